// opdb entries of the index family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_index(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
