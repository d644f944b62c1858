// A fresh directory under $TMPDIR (else /tmp) for one test, removed with
// everything in it when the object goes. Tests that run the jobgate binary
// keep their stores, jobs files and output there.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace jobgate::test {

class TempDir {
 public:
  // `prefix` names the test in the directory's name (jobgate-cli-test-XXXXXX).
  explicit TempDir(const std::string& prefix) {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace jobgate::test
