# node-gyp build of build/Release/odxcp.node. The source list lives in native/sources.gypi,
# shared with CMakeLists.txt (the sanitizer build).
{
  'targets': [
    {
      'target_name': 'odxcp',
      'includes': ['native/sources.gypi'],
      'dependencies': [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except",
      ],
      'defines': ['NAPI_VERSION=8'],
      'cflags': ['-Wall', '-Wextra', '-fvisibility=hidden', '-fstack-protector-strong'],
      'cflags_cc!': ['-std=gnu++17', '-std=gnu++20'],
      'cflags_cc': ['-std=c++17', '-fvisibility=hidden', '-fstack-protector-strong', '-Wall', '-Wextra'],
    },
  ],
}
