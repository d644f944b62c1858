// SQL text generated from the field tables (item_codec.h), shared by the
// SQL backends (SQLite, PostgreSQL): column lists, value lists, the
// assignments of an UPDATE and of an upsert's DO UPDATE. Only the
// parameter syntax is each backend's own (SQLite `?N`, PostgreSQL
// `$N::type`), built with SqlType and the helpers here.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "store/item_codec.h"

namespace jobgate::sql {

// The fields' names, each after `prefix` ("s." for a table alias).
template <typename Item>
std::vector<std::string> Names(std::span<const FieldSpec<Item>> fields, const std::string& prefix = "") {
  std::vector<std::string> out;
  for (const auto& f : fields) out.push_back(prefix + f.name);
  return out;
}

// "name TYPE" for each field; `int_type` and `text_type` name the
// backend's column types.
template <typename Item>
std::vector<std::string> ColumnDefs(std::span<const FieldSpec<Item>> fields, const char* int_type,
                                    const char* text_type) {
  std::vector<std::string> out;
  out.reserve(fields.size());
  // Appends, not fmt::format: a store that opens builds these for every
  // table's layout check, ~70 of them (docs/benchmarks.md, "Process
  // start-up").
  for (const auto& f : fields) {
    std::string& def = out.emplace_back(f.name);
    def += ' ';
    def += f.type == FieldType::kInt ? int_type : text_type;
  }
  return out;
}

inline std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline std::string Join(const std::vector<std::string>& parts, std::string_view sep = ", ") {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// "name = value" for each pair (an UPDATE's SET list).
inline std::vector<std::string> Assign(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) out.push_back(names[i] + " = " + values[i]);
  return out;
}

// "c = excluded.c" for each column (an upsert's DO UPDATE SET list).
inline std::vector<std::string> Excluded(const std::vector<std::string>& columns) {
  std::vector<std::string> out;
  for (const auto& c : columns) out.push_back(fmt::format("{0} = excluded.{0}", c));
  return out;
}

}  // namespace jobgate::sql
