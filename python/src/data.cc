#include "common.h"
namespace tessera::python {
void init_data(py::module_&) {}
}
