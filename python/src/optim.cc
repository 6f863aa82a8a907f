#include "common.h"
namespace tessera::python {
void init_optim(py::module_&) {}
}
