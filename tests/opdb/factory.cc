// opdb entries of the factory family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_factory(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
