// One table of the stored fields of each item kind, so that every backend
// stores the same fields under the same names (DESIGN.md) and decodes them
// with the same checks. A backend iterates the table instead of naming
// fields one by one.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "jobgate/job.h"

namespace jobgate {

// A field is an integer or a string in every backend.
enum class FieldType { kInt, kString };

template <typename Item>
struct FieldSpec {
  const char* name;
  FieldType type;
  int64_t Item::*int_member = nullptr;
  std::string Item::*string_member = nullptr;
};

// State fields other than `job` (the key) and `status` (an enum, stored as
// its name). Order is the column order of table-shaped backends.
std::span<const FieldSpec<JobState>> StateFields();
std::span<const FieldSpec<RunRecord>> RunFields();  // other than job
// Request fields other than the key (job, key) and `status` (stored as its name).
std::span<const FieldSpec<RequestRecord>> RequestFields();

// Field value as stored: an integer or a string.
using FieldValue = std::variant<int64_t, std::string>;

// Sets one field from a stored value, or returns kCorrupt naming the field,
// the job and the value when the value has the wrong type or range.
template <typename Item>
Status SetField(Item& item, const FieldSpec<Item>& spec, const FieldValue& v, const std::string& where);

}  // namespace jobgate
