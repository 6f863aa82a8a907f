// opdb entries of the copy family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_copy(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
