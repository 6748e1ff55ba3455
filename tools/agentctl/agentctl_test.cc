// Runs the built agentctl (path in $AGENTCTL) against a fake API server on a
// unix socket in this process: canned answers per "METHOD target", and every
// request recorded, so each test checks what agentctl sent, printed and
// returned.
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Canned {
  int status = 200;
  std::string body;
  bool chunked = false;  // body sent as one chunk per line
};

struct Request {
  std::string method, target, body;
};

class FakeAgent {
 public:
  explicit FakeAgent(std::string path) : path_(std::move(path)) {
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    bool ok =
        bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 && listen(fd_, 16) == 0;
    if (!ok) {
      perror("fake agent bind");
      abort();
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeAgent() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    unlink(path_.c_str());
  }
  void Answer(const std::string& key, Canned canned) {
    std::lock_guard<std::mutex> lock(mu_);
    canned_[key] = std::move(canned);
  }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      Handle(c);
      close(c);
    }
  }
  void Handle(int c) {
    std::string data;
    char buf[4096];
    size_t head_end;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) return;
      data.append(buf, n);
    }
    std::string head = data.substr(0, head_end);
    std::string body = data.substr(head_end + 4);
    size_t length = 0;
    if (size_t p = head.find("Content-Length: "); p != std::string::npos) {
      length = std::stoul(head.substr(p + 16));
    }
    while (body.size() < length) {
      ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) return;
      body.append(buf, n);
    }
    std::istringstream line(head.substr(0, head.find("\r\n")));
    Request r;
    line >> r.method >> r.target;
    r.body = body;
    Canned canned{404, R"({"error":{"code":"NOT_FOUND","message":"no canned answer"}})"};
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(r);
      if (auto it = canned_.find(r.method + " " + r.target); it != canned_.end()) {
        canned = it->second;
      }
    }
    std::string out =
        "HTTP/1.1 " + std::to_string(canned.status) + " X\r\nContent-Type: application/json\r\n";
    if (canned.chunked) {
      out += "Transfer-Encoding: chunked\r\n\r\n";
      std::istringstream lines(canned.body);
      std::string l;
      while (std::getline(lines, l)) {
        l += "\n";
        char size[16];
        snprintf(size, sizeof(size), "%zx", l.size());
        out += std::string(size) + "\r\n" + l + "\r\n";
      }
      out += "0\r\n\r\n";
    } else {
      out += "Content-Length: " + std::to_string(canned.body.size()) + "\r\n\r\n" + canned.body;
    }
    send(c, out.data(), out.size(), MSG_NOSIGNAL);
  }

  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, Canned> canned_;
  std::vector<Request> requests_;
};

struct Result {
  int code;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class AgentctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = getenv("AGENTCTL");
    ASSERT_NE(bin, nullptr) << "AGENTCTL must name the built agentctl binary";
    binary_ = bin;
    char tmpl[] = "/tmp/agentctl_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    agent_ = std::make_unique<FakeAgent>(dir_ + "/agent.sock");
  }
  void TearDown() override {
    agent_.reset();
    std::system(("rm -rf " + Quote(dir_)).c_str());
  }
  Result Run(const std::vector<std::string>& args, bool with_socket = true) {
    std::string cmd = Quote(binary_);
    if (with_socket) cmd += " --socket " + Quote(dir_ + "/agent.sock");
    for (const auto& a : args) cmd += " " + Quote(a);
    cmd += " >" + Quote(dir_ + "/out") + " 2>" + Quote(dir_ + "/err") + " </dev/null";
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(dir_ + "/out"),
            Slurp(dir_ + "/err")};
  }
  Request OnlyRequest() {
    auto r = agent_->requests();
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? Request{} : r.back();
  }

  std::string binary_, dir_;
  std::unique_ptr<FakeAgent> agent_;
};

constexpr char kPorts[] = R"({"items":[
  {"id":"web-1","network_id":"net-a","mac_address":"02:00:00:00:00:01",
   "fixed_ips":["10.0.0.5"],"security_group_ids":["web","ssh"],"state":"active","generation":"3"},
  {"id":"db-long-name","network_id":"net-a","mac_address":"02:00:00:00:00:02",
   "fixed_ips":["10.0.0.7","fd00::7"],"vips":["10.0.0.100"],"state":"pending-activation",
   "generation":1}]})";

constexpr char kPortStatus[] = R"({"id":"web-1","state":"active","representor":"pf0vf1",
  "representor_present":true,"zone":3,"slot":"2","dropped_packets":"12",
  "rules":[{"chain":7,"prio":1,"handle":2,"match":"ip_proto tcp dst_port 80",
            "actions":"ct zone 3 commit, goto chain 9","origin":"sg web rule 0",
            "placement":"hw","hw_errno":0,"hw_error":"","packets":"18446744073709","bytes":1500},
           {"chain":7,"prio":2,"handle":2,"match":"arp","actions":"drop","origin":"default",
            "placement":"trap","hw_errno":95,"hw_error":"mlx5_core: ARP not supported",
            "packets":0,"bytes":0}]})";

TEST_F(AgentctlTest, PortsTableIsAlignedAndAcceptsStringNumbers) {
  agent_->Answer("GET /v1/ports", {200, kPorts});
  Result r = Run({"ports"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(OnlyRequest().method, "GET");
  std::vector<std::string> lines;
  std::istringstream s(r.out);
  for (std::string l; std::getline(s, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(lines[0], ::testing::StartsWith("ID             NETWORK   MAC"));
  EXPECT_THAT(lines[1],
              ::testing::StartsWith("web-1          net-a     02:00:00:00:00:01   active"));
  EXPECT_THAT(lines[1], HasSubstr("web,ssh"));
  EXPECT_THAT(lines[1], ::testing::EndsWith("3"));
  EXPECT_THAT(lines[2], HasSubstr("pending-activation"));
  EXPECT_THAT(lines[2], HasSubstr("10.0.0.7,fd00::7"));
  EXPECT_THAT(lines[2], ::testing::EndsWith("1"));
  // Columns line up: STATE starts at the same offset in every line.
  size_t col = lines[0].find("STATE");
  EXPECT_EQ(lines[1].substr(col, 6), "active");
  EXPECT_EQ(lines[2].substr(col, 7), "pending");
}

TEST_F(AgentctlTest, JsonAndYamlOutput) {
  agent_->Answer("GET /v1/networks", {200, R"({"items":[{"id":"net-a","segmentation":"vlan",
      "vlan_id":100,"generation":"2"}]})"});
  Result j = Run({"networks", "-o", "json"});
  EXPECT_EQ(j.code, 0) << j.err;
  EXPECT_THAT(j.out, HasSubstr("\"vlan_id\": 100"));
  EXPECT_THAT(j.out, HasSubstr("\"generation\": \"2\""));
  Result y = Run({"-o", "yaml", "networks"});
  EXPECT_EQ(y.code, 0) << y.err;
  EXPECT_EQ(y.out,
            "items:\n  -\n    generation: \"2\"\n    id: net-a\n    segmentation: vlan\n"
            "    vlan_id: 100\n");
  Result bad = Run({"networks", "-o", "xml"});
  EXPECT_NE(bad.code, 0);
  EXPECT_THAT(bad.err, HasSubstr("xml"));
}

TEST_F(AgentctlTest, GroupsAndNetworksTables) {
  agent_->Answer("GET /v1/security-groups",
                 {200, R"({"items":[{"id":"web","rules":[{},{}],"generation":4}]})"});
  agent_->Answer("GET /v1/networks", {200, R"({"items":[]})"});
  Result g = Run({"groups"});
  EXPECT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(g.out, "ID    STATEFUL   RULES   GENERATION\nweb   true       2       4\n");
  Result n = Run({"networks"});
  EXPECT_EQ(n.code, 0);
  EXPECT_EQ(n.out, "No resources found.\n");
}

TEST_F(AgentctlTest, Status) {
  agent_->Answer("GET /v1/status", {200, R"({"ready":true,"version":"0.1.0","reconciles":"7",
      "resyncs":0,"ports_by_state":{"active":2,"pending-activation":1},
      "rules_by_placement":{"hw":10,"sw":4,"trap":1},"block_index":22,
      "last_reconcile_duration_seconds":0.25,"last_reconcile_error":""})"});
  Result r = Run({"status"});
  EXPECT_EQ(r.code, 0) << r.err;
  // The field names the API sends (api/api.proto AgentStatus).
  EXPECT_THAT(r.out, HasSubstr("Last reconcile duration:   0.25\n"));
  EXPECT_THAT(r.out, HasSubstr("Ready:                     true\n"));
  EXPECT_THAT(r.out, HasSubstr("Reconciles:                7\n"));
  EXPECT_THAT(r.out, HasSubstr("Ports:                     active=2 pending-activation=1\n"));
  EXPECT_THAT(r.out, HasSubstr("Rules:                     hw=10 sw=4 trap=1\n"));
  EXPECT_EQ(OnlyRequest().target, "/v1/status");
}

TEST_F(AgentctlTest, RulesOfAPortAndShared) {
  agent_->Answer("GET /v1/ports/web-1/status", {200, kPortStatus});
  agent_->Answer("GET /v1/rules", {200, R"({"items":[{"chain":0,"prio":1,"match":"indev pf0vf1",
      "actions":"goto chain 7","placement":"sw","packets":5,"bytes":"300"}]})"});
  Result r = Run({"rules", "--port", "web-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("CHAIN   PRIO   MATCH                      ACTION"));
  EXPECT_THAT(r.out, HasSubstr("ct zone 3 commit, goto chain 9   hw"));
  EXPECT_THAT(r.out, HasSubstr("18446744073709   1500"));
  EXPECT_THAT(r.out, HasSubstr("trap (mlx5_core: ARP not supported)"));
  Result shared = Run({"rules"});
  EXPECT_EQ(shared.code, 0);
  EXPECT_THAT(shared.out, HasSubstr("indev pf0vf1   goto chain 7   sw          5         300"));
  auto reqs = agent_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].target, "/v1/rules");
}

TEST_F(AgentctlTest, PortShowCombinesSpecAndStatus) {
  agent_->Answer("GET /v1/ports/web-1", {200, R"({"id":"web-1","network_id":"net-a",
      "allowed_address_pairs":[{"ip_address":"10.0.0.50/32","mac_address":"02:00:00:00:00:99"}],
      "generation":"3"})"});
  agent_->Answer("GET /v1/ports/web-1/status", {200, kPortStatus});
  Result r = Run({"port", "show", "web-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Representor:             pf0vf1 (present)"));
  EXPECT_THAT(r.out, HasSubstr("10.0.0.50/32/02:00:00:00:00:99"));
  EXPECT_THAT(r.out, HasSubstr("Dropped packets:         12"));
  EXPECT_THAT(r.out, HasSubstr("Rules:\nCHAIN"));
  Result j = Run({"port", "show", "web-1", "-o", "json"});
  EXPECT_THAT(j.out, HasSubstr("\"port\": {"));
  EXPECT_THAT(j.out, HasSubstr("\"status\": {"));
}

TEST_F(AgentctlTest, TraceSendsThePacketAndExitsTwoOnDisagreement) {
  agent_->Answer("POST /v1/trace", {200, R"({"verdict":"delivered",
      "deliveries":[{"out":"db-1","vlan":0}],"trace":["port web-1 egress: allowed",
      "port db-1 ingress: security group db rule 0 allowed"],
      "installed":{"verdict":"delivered","deliveries":[{"out":"db-1","vlan":0}],"trace":[]}})"});
  Result r = Run({"trace", "--port", "web-1", "tcp 10.0.0.5:1234 -> 10.0.0.7:80"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Reference:  delivered to db-1\n  1. port web-1 egress"));
  EXPECT_THAT(r.out, HasSubstr("Installed:  delivered to db-1"));
  Request sent = OnlyRequest();
  EXPECT_EQ(
      sent.body,
      R"({"established":false,"in_port":"web-1","packet":"tcp 10.0.0.5:1234 -> 10.0.0.7:80"})");

  agent_->Answer("POST /v1/trace", {200, R"({"verdict":"delivered",
      "deliveries":[{"out":"web-1","vlan":100}],"installed":{"verdict":"dropped"}})"});
  Result up = Run({"trace", "--from-uplink", "--established", "udp 10.0.0.9:53 -> 10.0.0.5:999"});
  EXPECT_EQ(up.code, 2);
  EXPECT_THAT(up.out, HasSubstr("delivered to web-1 (vlan 100)"));
  EXPECT_THAT(up.err, HasSubstr("disagree"));
  EXPECT_THAT(agent_->requests().back().body, HasSubstr(R"("established":true,"in":"uplink")"));

  Result neither = Run({"trace", "tcp 1.1.1.1:1 -> 2.2.2.2:2"});
  EXPECT_EQ(neither.code, 2);
  EXPECT_THAT(neither.err, HasSubstr("--port ID or --from-uplink"));
}

TEST_F(AgentctlTest, ConntrackTableFlattensEntries) {
  agent_->Answer("GET /v1/ports/web-1/conntrack", {200, R"({"zone":3,"entries":[
      {"orig":{"src":"10.0.0.5","dst":"10.0.0.7","proto":"tcp"},"timeout":"431999"}]})"});
  Result r = Run({"conntrack", "--port", "web-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Zone: 3\n"));
  EXPECT_THAT(r.out, HasSubstr("ORIG.DST   ORIG.PROTO   ORIG.SRC   TIMEOUT"));
  EXPECT_THAT(r.out, HasSubstr("10.0.0.7   tcp          10.0.0.5   431999"));
}

TEST_F(AgentctlTest, EventsFollowStreamsChunkedLines) {
  agent_->Answer("GET /v1/events",
                 {200,
                  "{\"time\":\"2024-01-01T00:00:00Z\",\"kind\":\"reconcile\","
                  "\"fields\":{\"rules\":\"12\",\"took\":\"3ms\"}}\n"
                  "{\"time\":\"2024-01-01T00:00:01Z\",\"kind\":\"port_activated\","
                  "\"fields\":{\"port\":\"web-1\"}}\n",
                  true});
  Result r = Run({"events", "--follow"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "2024-01-01T00:00:00Z  reconcile  rules=12  took=3ms\n"
            "2024-01-01T00:00:01Z  port_activated  port=web-1\n");
  Result j = Run({"events", "-f", "-o", "json"});
  EXPECT_THAT(j.out, HasSubstr("{\"fields\":{\"port\":\"web-1\"},\"kind\":\"port_activated\""));
}

TEST_F(AgentctlTest, ApplyPutsNetworksThenGroupsThenPorts) {
  std::string file = dir_ + "/policy.json";
  std::ofstream(file)
      << R"({"ports":[{"id":"p1","network_id":"n1","mac_address":"02:00:00:00:00:01"}],
    "security_groups":[{"id":"g1","rules":[{"direction":"ingress","protocol":"tcp"}]}],
    "networks":[{"id":"n1"}]})";
  agent_->Answer("PUT /v1/networks/n1", {200, R"({"id":"n1","generation":"1"})"});
  agent_->Answer("PUT /v1/security-groups/g1", {200, R"({"id":"g1","generation":"1"})"});
  agent_->Answer("PUT /v1/ports/p1", {200, R"({"id":"p1","generation":"5"})"});
  Result r = Run({"apply", "-f", file});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "network/n1 configured (generation 1)\nsecurity-group/g1 configured (generation 1)\n"
            "port/p1 configured (generation 5)\n");
  auto reqs = agent_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].method + " " + reqs[0].target, "PUT /v1/networks/n1");
  EXPECT_EQ(reqs[1].target, "/v1/security-groups/g1");
  EXPECT_EQ(reqs[2].target, "/v1/ports/p1");
  EXPECT_THAT(reqs[2].body, HasSubstr("\"mac_address\": \"02:00:00:00:00:01\""));
  EXPECT_THAT(reqs[1].body, HasSubstr("\"direction\": \"ingress\""));
}

TEST_F(AgentctlTest, RemotePortsAndAddressGroupsListShowApplyDelete) {
  agent_->Answer("GET /v1/remote-ports",
                 {200, R"({"items":[{"id":"b1","addresses":["192.0.2.10","2001:db8::10"],
                   "security_group_ids":["bastion"],"generation":"2"}]})"});
  agent_->Answer(
      "GET /v1/address-groups",
      {200, R"({"items":[{"id":"office","cidrs":["198.51.100.0/24"],"generation":1}]})"});
  agent_->Answer("GET /v1/remote-ports/b1",
                 {200, R"({"id":"b1","addresses":["192.0.2.10"],"security_group_ids":["bastion"],
                   "generation":"2"})"});
  agent_->Answer("GET /v1/address-groups/office",
                 {200, R"({"id":"office","cidrs":["198.51.100.0/24"],"generation":"1"})"});
  Result list = Run({"remote-ports"});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(list.out,
            "ID   ADDRESSES                 GROUPS    GENERATION\n"
            "b1   192.0.2.10,2001:db8::10   bastion   2\n");
  Result groups = Run({"address-groups"});
  EXPECT_EQ(groups.code, 0) << groups.err;
  EXPECT_EQ(groups.out, "ID       CIDRS             GENERATION\noffice   198.51.100.0/24   1\n");
  Result show = Run({"remote-port", "show", "b1"});
  EXPECT_EQ(show.code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("Security groups:"));
  EXPECT_THAT(show.out, HasSubstr("bastion"));
  Result show_ag = Run({"address-group", "show", "office", "-o", "json"});
  EXPECT_EQ(show_ag.code, 0) << show_ag.err;
  EXPECT_THAT(show_ag.out, HasSubstr("198.51.100.0/24"));

  std::string file = dir_ + "/remote.json";
  std::ofstream(file) << R"({"remote_ports":[{"id":"b1","addresses":["192.0.2.10"],
      "security_group_ids":["bastion"]}],
    "security_groups":[{"id":"bastion"}],
    "address_groups":[{"id":"office","cidrs":["198.51.100.0/24"]}]})";
  agent_->Answer("PUT /v1/address-groups/office", {200, R"({"id":"office","generation":"1"})"});
  agent_->Answer("PUT /v1/security-groups/bastion", {200, R"({"id":"bastion","generation":"1"})"});
  agent_->Answer("POST /v1/remote-ports:batch",
                 {200, R"({"upserted":[{"id":"b1","generation":"3"}],"deleted":[]})"});
  size_t before = agent_->requests().size();
  Result r = Run({"apply", "-f", file});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "address-group/office configured (generation 1)\n"
            "security-group/bastion configured (generation 1)\n"
            "remote-port/b1 configured (generation 3)\n");
  auto reqs = agent_->requests();
  ASSERT_EQ(reqs.size(), before + 3);
  EXPECT_EQ(reqs[before + 2].target, "/v1/remote-ports:batch");
  EXPECT_THAT(reqs[before + 2].body, HasSubstr("\"upserts\": ["));
  EXPECT_THAT(reqs[before + 2].body, HasSubstr("\"addresses\": ["));
  EXPECT_THAT(reqs[before + 2].body, ::testing::Not(HasSubstr("\"replace\"")));
  // --prune-remote-ports: the batch replaces; deletions are reported.
  agent_->Answer("POST /v1/remote-ports:batch",
                 {200, R"({"upserted":[{"id":"b1","generation":"4"}],"deleted":["b0"]})"});
  Result pruned = Run({"apply", "-f", file, "--prune-remote-ports"});
  EXPECT_EQ(pruned.code, 0) << pruned.err;
  EXPECT_THAT(pruned.out, HasSubstr("remote-port/b1 configured (generation 4)\n"
                                    "remote-port/b0 deleted\n"));
  EXPECT_THAT(agent_->requests().back().body, HasSubstr("\"replace\": true"));
  agent_->Answer("DELETE /v1/remote-ports/b1", {200, "{}"});
  agent_->Answer("DELETE /v1/address-groups/office", {200, "{}"});
  EXPECT_EQ(Run({"delete", "remote-port", "b1"}).out, "remote-port/b1 deleted\n");
  EXPECT_EQ(Run({"delete", "address-group", "office"}).out, "address-group/office deleted\n");
}

TEST_F(AgentctlTest, ApplyRefusesABadFileBeforeSendingAnything) {
  std::string file = dir_ + "/bad.json";
  std::ofstream(file) << R"({"ports":[{"id":"p1","bogus":1}]})";
  Result r = Run({"apply", "-f", file});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("bogus"));
  EXPECT_TRUE(agent_->requests().empty());
  Result missing = Run({"apply", "-f", dir_ + "/nope.json"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("nope.json: No such file or directory"));
}

TEST_F(AgentctlTest, HttpErrorPrintsCodeMessageAndField) {
  std::string file = dir_ + "/p.json";
  std::ofstream(file) << R"({"networks":[{"id":"n1"}],"ports":[{"id":"p1"}]})";
  agent_->Answer("PUT /v1/networks/n1", {200, R"({"id":"n1","generation":"1"})"});
  agent_->Answer("PUT /v1/ports/p1",
                 {409, R"({"error":{"code":"ABORTED","message":"stale generation 1, now 2",
                     "field":"ports[p1].generation"}})"});
  Result r = Run({"apply", "-f", file});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("agentctl: port/p1: 409 ABORTED: stale generation 1, now 2 "
                               "(field ports[p1].generation)"));
  Result nf = Run({"port", "show", "ghost"});
  EXPECT_EQ(nf.code, 1);
  EXPECT_THAT(nf.err, HasSubstr("404 NOT_FOUND: no canned answer"));
}

TEST_F(AgentctlTest, DeleteEachKind) {
  agent_->Answer("DELETE /v1/ports/p%2F1", {200, "{}"});
  agent_->Answer("DELETE /v1/security-groups/g1", {204, ""});
  agent_->Answer("DELETE /v1/networks/n1", {200, "{}"});
  EXPECT_EQ(Run({"delete", "port", "p/1"}).out, "port/p/1 deleted\n");
  EXPECT_EQ(Run({"delete", "group", "g1"}).out, "group/g1 deleted\n");
  EXPECT_EQ(Run({"delete", "network", "n1"}).out, "network/n1 deleted\n");
  auto reqs = agent_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& q : reqs) EXPECT_EQ(q.method, "DELETE");
  Result bad = Run({"delete", "router", "r1"});
  EXPECT_NE(bad.code, 0);
  EXPECT_THAT(bad.err, HasSubstr("router"));
}

TEST_F(AgentctlTest, MigrateExportImportActivate) {
  agent_->Answer("GET /v1/ports/web-1", {200, R"({"id":"web-1","generation":"3"})"});
  agent_->Answer("GET /v1/ports/web-1/conntrack",
                 {200, R"({"zone":3,"entries":[{"orig":{"src":"10.0.0.5"}},{"orig":{}}]})"});
  std::string file = dir_ + "/web-1.json";
  Result e = Run({"migrate", "export", "--port", "web-1", "-o", file});
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_THAT(e.err, HasSubstr("2 conntrack entries"));
  std::string exported = Slurp(file);
  EXPECT_THAT(exported, HasSubstr("\"conntrack\": {"));
  EXPECT_THAT(exported, HasSubstr("\"src\": \"10.0.0.5\""));

  agent_->Answer("POST /v1/ports/web-1/conntrack", {200, R"({"created":2})"});
  Result i = Run({"migrate", "import", "--port", "web-1", "-f", file});
  EXPECT_EQ(i.code, 0) << i.err;
  EXPECT_EQ(i.out, "imported 2 of 2 conntrack entries into port/web-1\n");
  EXPECT_EQ(agent_->requests().back().body,
            R"({"entries":[{"orig":{"src":"10.0.0.5"}},{"orig":{}}]})");

  agent_->Answer("POST /v1/ports/web-1/activate", {200, R"({"id":"web-1","state":"active"})"});
  Result a = Run({"migrate", "activate", "--port", "web-1"});
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, "port/web-1 activated\n");
  EXPECT_EQ(agent_->requests().back().method, "POST");
}

TEST_F(AgentctlTest, UnreachableAgent) {
  Result r = Run({"--socket", dir_ + "/absent.sock", "status"}, /*with_socket=*/false);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "agentctl: cannot connect to " + dir_ +
                       "/absent.sock: No such file or directory; is vfguard-agent running?\n");
  EXPECT_EQ(r.out, "");
  setenv("VFGUARD_SOCKET", (dir_ + "/env.sock").c_str(), 1);
  Result env = Run({"ports"}, /*with_socket=*/false);
  unsetenv("VFGUARD_SOCKET");
  EXPECT_EQ(env.code, 1);
  EXPECT_THAT(env.err, HasSubstr(dir_ + "/env.sock"));
}

TEST_F(AgentctlTest, HelpVersionAndCompletion) {
  for (std::vector<std::string> cmd : {std::vector<std::string>{"--help"},
                                       {"status", "--help"},
                                       {"port", "show", "--help"},
                                       {"migrate", "import", "--help"},
                                       {"trace", "--help"},
                                       {"events", "--help"}}) {
    Result r = Run(cmd);
    EXPECT_EQ(r.code, 0) << cmd.front();
    EXPECT_THAT(r.out, HasSubstr("Usage: agentctl")) << cmd.front();
  }
  Result v = Run({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_THAT(v.out, ::testing::MatchesRegex("agentctl [0-9]+\\.[0-9]+\\.[0-9]+\n"));
  Result c = Run({"completion", "bash"});
  EXPECT_EQ(c.code, 0);
  EXPECT_THAT(c.out, HasSubstr("complete -F _agentctl agentctl"));
  EXPECT_THAT(c.out, HasSubstr("\" migrate\") words=\"export import activate"));
  // The script is valid bash.
  std::ofstream(dir_ + "/c.sh") << c.out;
  EXPECT_EQ(std::system(("bash -n " + Quote(dir_ + "/c.sh")).c_str()), 0);
  EXPECT_TRUE(agent_->requests().empty());
}

}  // namespace
