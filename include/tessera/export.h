#pragma once
// Symbols are hidden by default (-fvisibility=hidden); only what carries TESSERA_API is
// exported from the shared library, so dependencies (oneDNN, OpenMP) never leak into users.
#if defined(_WIN32)
#define TESSERA_API __declspec(dllexport)
#else
#define TESSERA_API __attribute__((visibility("default")))
#endif
