#include "common.h"
namespace tessera::python {
void init_io(py::module_&) {}
}
