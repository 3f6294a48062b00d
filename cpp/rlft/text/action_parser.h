// Action parser: turns a model's generation into an action index of the env.
//
// A parser is built once from the env's labels and a list of pattern templates (UTF-8),
// then parses any number of texts. A text is either UTF-8 bytes (valid or not) or a
// sequence of code points stored in 1, 2 or 4 bytes each (CPython's own str layouts, so
// that a str is scanned in place instead of being converted to UTF-8 first). Matching
// code points is equivalent to matching their UTF-8 bytes. Any input, including invalid
// UTF-8, NUL bytes and 10 MB strings, gets a status. The scan is a hand-written loop (no
// std::regex): linear in the text length, constant stack depth, no allocation, and Parse
// never throws, so it may run on worker threads without the GIL.
//
// Rules (python/rlft/text/parser.py has the same rules as a pure-Python `re` twin):
//  * Pattern template: text with exactly one "{action}" placeholder at the end, e.g.
//    "ACTION={action}" or "Final answer: {action}". Words (runs of [A-Za-z0-9_]) match
//    case-insensitively and as whole words; every other character matches itself, with
//    optional whitespace around it; whitespace between two words in the template means
//    "one or more whitespace characters" in the text.
//  * The LAST occurrence of any pattern keyword decides (the occurrence that starts last;
//    on a tie, the pattern listed first). If its value is not a known label the status is
//    kUnknownLabel, even when an earlier occurrence named a valid label (the paper's
//    "last regex match" rule: the final answer counts, not an earlier draft).
//  * Value: after the keyword, whitespace and up to kMaxOpeners opening marks
//    (quotes, brackets, '*', '<') are skipped; at the first position where a label
//    matches, the longest label wins. Labels match case-insensitively (ASCII); a run of
//    spaces/underscores in a label matches any run of whitespace/underscores in the text,
//    so "star_wars_(1977)" matches "Star Wars (1977)". A label that ends in a word
//    character must be followed by a non-word character or the end of the text: "1" does
//    not match "10", "red" does not match "reddish". Whatever follows (closing quotes,
//    brackets, punctuation, more words) is ignored.
//  * With a legal mask, a label that is not allowed in this state gives kIllegal; the
//    action is still the label's index. Otherwise the action is -1 unless the status is kOk.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rlft::text {

enum class ParseStatus : int8_t {
  kOk = 0,            // a known, allowed label
  kNoMatch = 1,       // no pattern keyword in the text
  kUnknownLabel = 2,  // the last keyword is not followed by a known label
  kIllegal = 3,       // a known label that the legal mask forbids
};

struct ParseOutcome {
  int32_t action = -1;  // label index; >= 0 exactly when status is kOk or kIllegal
  ParseStatus status = ParseStatus::kNoMatch;
};

// A text to parse: `length` units at `data`.
struct TextRef {
  enum class Encoding : uint8_t {
    kUtf8,    // bytes, UTF-8 expected but not required
    kLatin1,  // code points < 256, one byte each
    kUcs2,    // code points < 65536, two bytes each
    kUcs4,    // code points, four bytes each
  };
  const void* data = nullptr;
  size_t length = 0;
  Encoding encoding = Encoding::kUtf8;

  static TextRef Utf8(std::string_view text) { return {text.data(), text.size(), Encoding::kUtf8}; }
};

// How many opening marks (quotes, brackets, '*', '<') may precede a label: enough for
// "**[\"blue\"]**"-style decoration, small enough that the value scan stays bounded.
inline constexpr int kMaxOpeners = 4;

class ActionParser {
 public:
  // Labels and templates are UTF-8. Throws InvalidArgument on: no labels, an empty label,
  // two labels equal after normalisation, invalid UTF-8, no patterns, a template without
  // exactly one trailing "{action}" or with nothing before it.
  ActionParser(std::vector<std::string> labels, std::vector<std::string> patterns);

  // legal_row: nullptr, or num_labels() flags (true = allowed). Never throws.
  ParseOutcome Parse(const TextRef& text, const bool* legal_row = nullptr) const noexcept;
  ParseOutcome Parse(std::string_view utf8, const bool* legal_row = nullptr) const noexcept {
    return Parse(TextRef::Utf8(utf8), legal_row);
  }

  // Parses texts[begin..end); legal (optional) is row-major [n, num_labels()]. Never throws.
  void ParseRange(const TextRef* texts, int64_t begin, int64_t end, const bool* legal,
                  int32_t* actions, int8_t* statuses) const noexcept;

  int32_t num_labels() const { return static_cast<int32_t>(labels_.size()); }
  const std::vector<std::string>& labels() const { return labels_; }
  const std::vector<std::string>& patterns() const { return patterns_; }

  // The compiled form of the labels and patterns over one alphabet: UTF-8 bytes, or
  // code points. Public only so that the scanner in the .cpp can use it.
  struct Grammar;

 private:
  std::vector<std::string> labels_;
  std::vector<std::string> patterns_;
  std::shared_ptr<const Grammar> bytes_;        // for kUtf8 texts
  std::shared_ptr<const Grammar> code_points_;  // for kLatin1, kUcs2, kUcs4 texts
};

}  // namespace rlft::text
