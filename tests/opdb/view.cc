// opdb entries of the view family.
#include "opdb/opdb.h"

namespace tessera::opdb {

void add_view(std::vector<OpEntry>& out) { (void)out; }

}  // namespace tessera::opdb
