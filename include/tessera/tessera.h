#pragma once
// Everything a user needs: #include <tessera/tessera.h>
#include "tessera/allocator.h"
#include "tessera/array_ref.h"
#include "tessera/autograd.h"
#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/io.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"
#include "tessera/random.h"
#include "tessera/tensor.h"
#include "tessera/version.h"
