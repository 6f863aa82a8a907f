#include "common.h"
namespace tessera::python {
void init_train(py::module_&) {}
}
