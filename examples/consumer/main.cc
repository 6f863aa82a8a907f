// Uses Tessera through its installed headers and CMake package only.
#include <tessera/tessera.h>

#include <cmath>
#include <iostream>

int main() {
  using namespace tessera;
  try {
    Tensor a = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});  // [2, 3]
    Tensor b = ones({3, 2});                                // [3, 2]
    Tensor c = matmul(a, b) + tensor<float>({10, 20});     // [2, 2] + [2] broadcasts
    const float total = c.sum().item<float>();
    std::cout << "tessera " << version() << "\nc = " << c << "\nsum = " << total << "\n";

    // The rows of a sum to 6 and 15: c = [[16, 26], [25, 35]], whose sum is 102.
    if (std::fabs(total - 102.0f) > 1e-5f) {
      std::cerr << "consumer: expected 102, got " << total << "\n";
      return 1;
    }
    // A user error is an exception naming the op and the shapes, never an abort. Its class
    // says the kind, and catching the class works across the shared library's boundary.
    try {
      (void)matmul(a, a);
      std::cerr << "consumer: matmul of [2, 3] by [2, 3] did not throw\n";
      return 1;
    } catch (const InvalidArgumentError& e) {
      std::cout << "caught: " << e.what() << "\n";
    }
    try {
      (void)load_npy("/no/such/file.npy");
      std::cerr << "consumer: loading a missing file did not throw\n";
      return 1;
    } catch (const IOError& e) {
      std::cout << "caught (" << error_kind_name(e.kind()) << "): " << e.what() << "\n";
    }
  } catch (const Error& e) {
    std::cerr << "consumer: " << e.what() << "\n";
    return 1;
  }
  std::cout << "consumer: ok\n";
  return 0;
}
