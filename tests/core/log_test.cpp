#include <gtest/gtest.h>

#include "lamin/log.hpp"

TEST(Log, WarnOnceWritesEachMessageOnce) {
  lamin::log::reset_warn_once();
  lamin::log::WarningCapture capture;
  lamin::log::warn_once("same message");
  lamin::log::warn_once("same message");
  lamin::log::warn_once("other message");
  ASSERT_EQ(capture.messages().size(), 2u);
  EXPECT_EQ(capture.messages()[0], "same message");
  EXPECT_TRUE(capture.contains("other"));
}

TEST(Log, LevelFiltersMessages) {
  lamin::log::WarningCapture capture;
  lamin::log::set_level(lamin::log::Level::error);
  lamin::log::warn("dropped");
  lamin::log::set_level(lamin::log::Level::info);
  lamin::log::warn("kept");
  ASSERT_EQ(capture.messages().size(), 1u);
  EXPECT_EQ(capture.messages()[0], "kept");
}

TEST(Log, AThrowingListenerNeverReachesTheCaller) {
  const int h = lamin::log::add_listener([](lamin::log::Level, std::string_view) { throw std::runtime_error("x"); });
  EXPECT_NO_THROW(lamin::log::warn("still fine"));
  lamin::log::remove_listener(h);
}
