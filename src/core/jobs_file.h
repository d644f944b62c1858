// The jobs file read by `jobgate apply FILE.toml`: one table per job.
//
//   [jobs.nightly-report]
//   command = ["./report.sh", "--full"]   # or a string, run with /bin/sh -c
//   cooldown = "20h"
//   timeout = "1h"
//   lease = "5m"
//   park_after = 5
//   rate_limit = "10/1h"
//
// Every key is checked: an unknown key, a wrong type or a bad duration is an
// error naming the file, the job, the key and the value.
#pragma once

#include <string>
#include <vector>

#include "jobgate/job.h"
#include "jobgate/status.h"

namespace jobgate {

Result<std::vector<JobDefinition>> ParseJobsToml(const std::string& text, const std::string& source_name);
Result<std::vector<JobDefinition>> LoadJobsFile(const std::string& path);

// "N/DURATION", e.g. "10/1h": at most N acquisitions in any window of DURATION.
Status ParseRateLimit(const std::string& text, const std::string& field, JobDefinition& def);

}  // namespace jobgate
