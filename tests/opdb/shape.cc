// opdb entries of the shape family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_shape(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
