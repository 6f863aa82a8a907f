// opdb entries of the linalg family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_linalg(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
