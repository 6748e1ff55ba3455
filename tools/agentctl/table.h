// kubectl-style tables: upper-case headers, columns left-aligned and padded
// to the widest cell plus three spaces, no borders, the last column unpadded.
#ifndef VFGUARD_TOOLS_AGENTCTL_TABLE_H_
#define VFGUARD_TOOLS_AGENTCTL_TABLE_H_

#include <string>
#include <utility>
#include <vector>

namespace vfguard::agentctl {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  // Missing cells are empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "Key:   value" lines aligned on the values, like `kubectl describe`.
std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields,
                         int indent = 0);

}  // namespace vfguard::agentctl

#endif  // VFGUARD_TOOLS_AGENTCTL_TABLE_H_
