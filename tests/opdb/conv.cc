// opdb entries of the conv family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_conv(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
