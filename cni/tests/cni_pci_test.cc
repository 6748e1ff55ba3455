// PCI address -> VF index against a fake sysfs tree laid out like the
// kernel's: /sys/bus/pci/devices/ADDR links to /sys/devices/pci0000:00/ADDR,
// a VF has physfn -> ../PF, a PF has virtfnN -> ../VF.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "cni/cni_status.h"
#include "cni/pci.h"

namespace vfguard::cni {
namespace {
namespace fs = std::filesystem;

class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cni_pci_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "bus/pci/devices");
    // PF 0000:03:00.0 with VFs 0..2 at functions .2, .3, .4 and a VF of
    // another PF that is not listed; a plain NIC without SR-IOV.
    Device("0000:03:00.0");
    for (int i = 0; i < 3; ++i) {
      std::string vf = "0000:03:00." + std::to_string(2 + i);
      Device(vf);
      fs::create_directory_symlink("../0000:03:00.0", Dir(vf) / "physfn");
      fs::create_directory_symlink("../" + vf,
                                   Dir("0000:03:00.0") / ("virtfn" + std::to_string(i)));
    }
    Device("0000:04:00.0");
    Device("0000:04:00.5");
    fs::create_directory_symlink("../0000:04:00.0", Dir("0000:04:00.5") / "physfn");
    Device("0000:05:00.0");  // no SR-IOV
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path Dir(const std::string& pci) { return root_ / "devices/pci0000:00" / pci; }
  void Device(const std::string& pci) {
    fs::create_directories(Dir(pci));
    fs::create_directory_symlink("../../../devices/pci0000:00/" + pci,
                                 root_ / "bus/pci/devices" / pci);
  }

  fs::path root_;
};

TEST_F(FakeSysfs, VfIndexFromVirtfnLinks) {
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<VfLocation> vf =
        ResolveVf(root_.string(), "0000:03:00." + std::to_string(2 + i));
    ASSERT_TRUE(vf.ok()) << vf.status();
    EXPECT_EQ(vf->index, static_cast<uint32_t>(i));
    EXPECT_EQ(vf->pf, "0000:03:00.0");
  }
}

TEST_F(FakeSysfs, UpperCaseAddressIsTheSameDevice) {
  fs::remove(root_ / "bus/pci/devices/0000:03:00.3");
  Device("0000:0a:00.3");
  fs::create_directory_symlink("../0000:03:00.0", Dir("0000:0a:00.3") / "physfn");
  fs::create_directory_symlink("../0000:0a:00.3", Dir("0000:03:00.0") / "virtfn7");
  absl::StatusOr<VfLocation> vf = ResolveVf(root_.string(), "0000:0A:00.3");
  ASSERT_TRUE(vf.ok()) << vf.status();
  EXPECT_EQ(vf->index, 7u);
}

TEST_F(FakeSysfs, Errors) {
  auto msg = [&](const std::string& pci) {
    absl::StatusOr<VfLocation> vf = ResolveVf(root_.string(), pci);
    EXPECT_FALSE(vf.ok());
    EXPECT_EQ(ToCniError(vf.status()).code, 7);
    return std::string(vf.status().message());
  };
  EXPECT_EQ(msg("0000:09:00.1"), "deviceID 0000:09:00.1: no such PCI device (" +
                                     (root_ / "bus/pci/devices/0000:09:00.1").string() + ")");
  EXPECT_EQ(msg("0000:05:00.0"), "deviceID 0000:05:00.0: not a VF (" +
                                     (root_ / "bus/pci/devices/0000:05:00.0/physfn").string() +
                                     " is missing: a PF or a NIC without SR-IOV)");
  EXPECT_THAT(msg("0000:03:00.0"), ::testing::HasSubstr("not a VF"));
  EXPECT_EQ(msg("0000:04:00.5"),
            "deviceID 0000:04:00.5: its PF 0000:04:00.0 has no virtfn link to it");
}

TEST(PciAddressTest, Format) {
  EXPECT_TRUE(IsPciAddress("0000:03:00.2"));
  EXPECT_TRUE(IsPciAddress("0000:AF:1f.7"));
  EXPECT_FALSE(IsPciAddress("03:00.2"));
  EXPECT_FALSE(IsPciAddress("0000:03:00.8"));
  EXPECT_FALSE(IsPciAddress("0000:03:00:2"));
  EXPECT_FALSE(IsPciAddress("0000:0g:00.2"));
  EXPECT_FALSE(IsPciAddress(""));
}

}  // namespace
}  // namespace vfguard::cni
