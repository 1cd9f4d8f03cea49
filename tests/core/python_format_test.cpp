#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/python_format.hpp"

using lamin::detail::python_json_float;
using lamin::detail::python_repr;
using lamin::detail::python_repr_f32;

TEST(PythonRepr, MatchesPythonForFloat32Values) {
  EXPECT_EQ(python_repr_f32(0.3f), "0.30000001192092896");
  EXPECT_EQ(python_repr_f32(0.4f), "0.4000000059604645");
  EXPECT_EQ(python_repr_f32(0.2f), "0.20000000298023224");
  EXPECT_EQ(python_repr_f32(3.375f), "3.375");
  EXPECT_EQ(python_repr_f32(5.0f), "5.0");
}

TEST(PythonRepr, FixedAndScientificRanges) {
  EXPECT_EQ(python_repr(0.5), "0.5");
  EXPECT_EQ(python_repr(1.0), "1.0");
  EXPECT_EQ(python_repr(1e-5), "1e-05");
  EXPECT_EQ(python_repr(0.0001), "0.0001");
  EXPECT_EQ(python_repr(1e16), "1e+16");
  EXPECT_EQ(python_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_repr(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(python_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(python_repr(-2.5), "-2.5");
  EXPECT_EQ(python_repr(-0.0), "-0.0");
  EXPECT_EQ(python_repr(0.0), "0.0");
}

TEST(PythonRepr, NonFinite) {
  EXPECT_EQ(python_repr(std::nan("")), "nan");
  EXPECT_EQ(python_repr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(python_repr(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(python_json_float(std::nan("")), "NaN");
  EXPECT_EQ(python_json_float(-std::numeric_limits<double>::infinity()), "-Infinity");
}
