#include "core/random.h"

#include <memory>

namespace jobgate {

std::unique_ptr<Random> MakeOsRandom() {
  const uint64_t seed = std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
  return std::make_unique<SeededRandom>(seed);
}

}  // namespace jobgate
