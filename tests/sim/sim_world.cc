#include "sim/sim_world.h"

#include <cstdio>

#include <fmt/format.h>

namespace jobgate::sim {

void Trace::Append(EpochMs true_ms, std::string event) {
  std::string line = fmt::format("{:>9.3f}s {}", static_cast<double>(true_ms - kSimEpochMs) / 1000.0, event);
  if (echo_) fmt::print(stderr, "{}\n", line);
  events_.push_back(std::move(line));
  if (events_.size() > keep_) events_.pop_front();
}

std::string Trace::Tail() const {
  std::string out;
  for (const auto& e : events_) out += "    " + e + "\n";
  return out;
}

}  // namespace jobgate::sim
