// The pure command encoders, one file per T10 command family. Each Register* function adds
// that family's encoders to the `encoders` object exported as binding.encoders.
#ifndef ODXCP_ENCODERS_H_
#define ODXCP_ENCODERS_H_

#include <napi.h>

namespace odxcp {

void RegisterSpcEncoders(Napi::Env env, Napi::Object encoders);  // spc.cc
void RegisterSbcEncoders(Napi::Env env, Napi::Object encoders);  // sbc.cc
void RegisterTpcEncoders(Napi::Env env, Napi::Object encoders);  // tpc.cc

}  // namespace odxcp

#endif  // ODXCP_ENCODERS_H_
