# The one list of the addon's C++ sources, relative to this directory.
# binding.gyp includes this file; CMakeLists.txt (the sanitizer build) reads the quoted
# '*.cc' names out of it, so add a new source here and nowhere else.
{
  'sources': [
    'addon.cc',
    'fields.cc',
    'sys_error.cc',
    'worker_pool.cc',
    'device_handle.cc',
    'sg_async.cc',
    'memory.cc',
    'lane.cc',
    'transport.cc',
    'spc.cc',
    'sbc.cc',
    'tpc.cc',
    'dm.cc',
    'alua.cc',
  ],
}
