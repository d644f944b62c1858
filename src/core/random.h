// Randomness the controller draws (backoff jitter, run ids) comes through
// the public Random interface; these are its implementations.
#pragma once

#include <cstdint>
#include <random>

#include "jobgate/controller.h"

namespace jobgate {

// A seeded PRNG (std::mt19937_64), for tests and reproducible runs.
// Thread-compatible.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : gen_(seed) {}
  uint64_t Next() override { return gen_(); }

 private:
  std::mt19937_64 gen_;
};

}  // namespace jobgate
