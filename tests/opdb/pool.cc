// opdb entries of the pool family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_pool(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
