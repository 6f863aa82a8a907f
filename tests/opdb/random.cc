// opdb entries of the random family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_random(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
