// Argument checks for the C++ core. A failed check throws InvalidArgument, which the
// bindings turn into a Python ValueError: bad input never crashes the interpreter.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace rlft {

class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

template <class... Parts>
[[noreturn]] void ThrowInvalid(Parts&&... parts) {
  std::ostringstream message;
  (message << ... << std::forward<Parts>(parts));
  throw InvalidArgument(message.str());
}

// Check(cond, "num_arms must be >= 2, got ", k): the message parts are only formatted on failure.
template <class... Parts>
void Check(bool condition, Parts&&... parts) {
  if (!condition) ThrowInvalid(std::forward<Parts>(parts)...);
}

}  // namespace rlft
