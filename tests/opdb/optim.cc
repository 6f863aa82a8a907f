// opdb entries of the optim family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_optim(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
