#include "common.h"
namespace tessera::python {
void init_nn(py::module_&) {}
}
