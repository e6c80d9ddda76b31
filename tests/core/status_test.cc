#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace autoscale {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, FactoriesSetCodeAndMessage) {
  struct Case {
    Status s;
    StatusCode code;
    const char* name;
    const char* msg;
  };
  const std::vector<Case> cases = {
      {Status::InvalidArgument("m1"), StatusCode::kInvalidArgument, "InvalidArgument", "m1"},
      {Status::NotFound("m2"), StatusCode::kNotFound, "NotFound", "m2"},
      {Status::IoError("m3"), StatusCode::kIoError, "IoError", "m3"},
      {Status::Unavailable("m4"), StatusCode::kUnavailable, "Unavailable", "m4"},
      {Status::Internal("m5"), StatusCode::kInternal, "Internal", "m5"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(c.s.ok());
    EXPECT_EQ(c.s.code(), c.code);
    EXPECT_EQ(c.s.message(), c.msg);
    EXPECT_EQ(StatusCodeName(c.code), c.name);
    EXPECT_EQ(c.s.ToString(), std::string(c.name) + ": " + c.msg);
  }
  EXPECT_EQ(StatusCodeName(StatusCode::kOk), "OK");
}

TEST(StatusTest, WithPrefixPrependsAndKeepsCode) {
  Status s = Status::NotFound("no such file").WithPrefix("loading scenario");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "loading scenario: no such file");
  // OK stays OK, with no message.
  Status ok = Status::Ok().WithPrefix("anything");
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.message(), "");
  // The original is unchanged.
  Status orig = Status::Internal("x");
  (void)orig.WithPrefix("p");
  EXPECT_EQ(orig.message(), "x");
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = 7;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(*r, 7);
  r.value() = 9;
  EXPECT_EQ(*r, 9);
}

TEST(ResultTest, HoldsError) {
  Result<int> r = Status::InvalidArgument("bad");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "bad");
}

TEST(ResultTest, ArrowAndMoveOut) {
  Result<std::string> r = std::string("hello");
  EXPECT_EQ(r->size(), 5u);
  std::string s = std::move(r).value();
  EXPECT_EQ(s, "hello");

  Result<std::unique_ptr<int>> p = std::make_unique<int>(3);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> owned = std::move(p).value();
  ASSERT_NE(owned, nullptr);
  EXPECT_EQ(*owned, 3);
}

// Helpers exercising the macros.
int g_after_return_if_error = 0;

Status Pass(Status s) {
  RETURN_IF_ERROR(s);
  ++g_after_return_if_error;
  return Status::Ok();
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));  // two on different lines must not clash
  return q;
}

Status QuarterStatus(int x, int* out) {
  ASSIGN_OR_RETURN(*out, Quarter(x));  // assigning to an existing lvalue
  return Status::Ok();
}

Result<std::unique_ptr<int>> MakePtr(int v) { return std::make_unique<int>(v); }

Result<int> Deref(int v) {
  ASSIGN_OR_RETURN(std::unique_ptr<int> p, MakePtr(v));  // move-only value
  return *p + 1;
}

TEST(MacrosTest, ReturnIfErrorPassesOkThrough) {
  g_after_return_if_error = 0;
  EXPECT_TRUE(Pass(Status::Ok()).ok());
  EXPECT_EQ(g_after_return_if_error, 1);
}

TEST(MacrosTest, ReturnIfErrorReturnsEarly) {
  g_after_return_if_error = 0;
  Status s = Pass(Status::Unavailable("device down"));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "device down");
  EXPECT_EQ(g_after_return_if_error, 0);
}

TEST(MacrosTest, AssignOrReturn) {
  auto ok = Quarter(12);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);

  auto first = Quarter(5);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().message(), "odd: 5");

  auto second = Quarter(6);  // 6 -> 3, then 3 is odd
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(second.status().message(), "odd: 3");

  int out = -1;
  EXPECT_TRUE(QuarterStatus(8, &out).ok());
  EXPECT_EQ(out, 2);
  out = -1;
  Status s = QuarterStatus(7, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(out, -1);  // untouched on error

  auto d = Deref(41);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, 42);
}

}  // namespace
}  // namespace autoscale
