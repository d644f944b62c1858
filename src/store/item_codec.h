// The storage schema and codec every backend shares, so that all of them
// store the same items the same way (DESIGN.md):
// - one table of the stored fields of each item kind, under the same names
//   and decoded with the same checks: a backend iterates the table instead
//   of naming fields one by one;
// - JobDefinition <-> JSON text, the form in which table-shaped backends
//   store a definition (one text column / attribute).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "jobgate/job.h"
#include "jobgate/status.h"

namespace jobgate {

// A field is an integer or a string in every backend.
enum class FieldType { kInt, kString };

// One stored field: an integer member, a string member, or (kString) a
// typed member stored as text, through `format` and `parse` (false for a
// stored text that is not a value of the type).
template <typename Item>
struct FieldSpec {
  const char* name;
  FieldType type;
  int64_t Item::*int_member = nullptr;
  std::string Item::*string_member = nullptr;
  std::string (*format)(const Item&) = nullptr;
  bool (*parse)(const std::string&, Item&) = nullptr;
};

// The text a kString field is stored as.
template <typename Item>
std::string StringField(const Item& item, const FieldSpec<Item>& spec) {
  return spec.format != nullptr ? spec.format(item) : item.*spec.string_member;
}
// Any field as text: an integer as its decimal form.
template <typename Item>
std::string FieldText(const Item& item, const FieldSpec<Item>& spec) {
  return spec.type == FieldType::kInt ? std::to_string(item.*spec.int_member) : StringField(item, spec);
}

// State fields other than `job` (the key) and `status` (an enum, stored as
// its name). Order is the column order of table-shaped backends.
std::span<const FieldSpec<JobState>> StateFields();
std::span<const FieldSpec<RunRecord>> RunFields();  // other than job
// Request fields other than the key (job, key) and `status` (stored as its name).
std::span<const FieldSpec<RequestRecord>> RequestFields();

// Field value as stored: an integer or a string.
using FieldValue = std::variant<int64_t, std::string>;

// Items written by other tools (docs/design.md, "Items written by other
// tools"): every backend decodes a stored item through SetField and
// SetStatus, and accepts a value only if its own write conditions match
// what was decoded, so that a CAS against an accepted item can succeed.
// A missing (or NULL) value is the field's zero value and is not passed
// here.

// Sets one field from a stored value, or returns kCorrupt naming the field,
// the job and the value when the value has the wrong type or range. An
// integer field takes a number, or a string that is exactly the decimal
// form of one ("3", not "03", " 3" or "3.0"): some backends hold numbers
// as their text (SQLite columns declared TEXT); a backend whose string type
// is distinct from its number type (DynamoDB S vs N) refuses strings itself
// before calling this.
template <typename Item>
Status SetField(Item& item, const FieldSpec<Item>& spec, const FieldValue& v, const std::string& where);

// Sets `status` (JobStatus or RequestStatus) from a stored value through
// `parse`. The name is matched in any case ("running", "Running"): no write
// condition depends on `status`, and the next write stores the canonical
// name. A number, or a string that is no name, is kCorrupt naming the field
// and the value.
template <typename Enum>
Status SetStatus(Enum& status, const FieldValue& v, Result<Enum> (*parse)(const std::string&),
                 const std::string& where);

// Compact JSON object whose keys are the JobDefinition member names. Invalid
// UTF-8 in strings is replaced by U+FFFD (JSON cannot carry it), so this never
// fails.
std::string DefinitionToJson(const JobDefinition& def);

// Parses DefinitionToJson's output. Missing keys keep JobDefinition's
// defaults and unknown keys are ignored (a newer jobgate may add fields). A
// value of the wrong type gives kCorrupt naming `where`, the field and the
// value. Does not validate (see ValidateDefinition).
Result<JobDefinition> DefinitionFromJson(std::string_view json, const std::string& where = "definition");

}  // namespace jobgate
