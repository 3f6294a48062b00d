#include "rlft/text/action_parser.h"

#include <algorithm>
#include <utility>

#include "rlft/core/check.h"

namespace rlft::text {

namespace {

// A label or template as a sequence of symbols: UTF-8 bytes or code points.
using Symbols = std::vector<uint32_t>;

// The character classes are ASCII-only, like Python's `re` on bytes; every non-ASCII
// byte or code point is an ordinary "other" character.
bool IsSpace(uint32_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool IsWord(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool IsLabelSeparator(uint32_t c) { return c == '_' || IsSpace(c); }
bool IsOpener(uint32_t c) {
  switch (c) {
    case '"': case '\'': case '`': case '*': case '(': case '[': case '{': case '<': return true;
    default: return false;
  }
}
uint32_t Lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

constexpr int32_t kSeparator = -1;  // trie symbol for a run of spaces/underscores
constexpr std::string_view kPlaceholder = "{action}";

Symbols Bytes(std::string_view text) {
  Symbols out;
  out.reserve(text.size());
  for (const char c : text) out.push_back(static_cast<unsigned char>(c));
  return out;
}

// Decodes UTF-8, accepting surrogate code points (Python's "surrogatepass" writes them).
bool DecodeUtf8(std::string_view text, Symbols* out) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 1;
    uint32_t code = lead;
    uint32_t minimum = 0;
    if (lead >= 0x80) {
      if ((lead & 0xE0) == 0xC0) { length = 2; code = lead & 0x1Fu; minimum = 0x80; }
      else if ((lead & 0xF0) == 0xE0) { length = 3; code = lead & 0x0Fu; minimum = 0x800; }
      else if ((lead & 0xF8) == 0xF0) { length = 4; code = lead & 0x07u; minimum = 0x10000; }
      else return false;
      if (i + length > text.size()) return false;
      for (size_t k = 1; k < length; ++k) {
        const auto next = static_cast<unsigned char>(text[i + k]);
        if ((next & 0xC0) != 0x80) return false;
        code = (code << 6) | (next & 0x3Fu);
      }
      if (code < minimum || code > 0x10FFFF) return false;
    }
    out->push_back(code);
    i += length;
  }
  return true;
}

}  // namespace

struct ActionParser::Grammar {
  // One piece of a pattern's keyword part.
  struct Atom {
    bool word;            // words compare case-insensitively and as whole words
    Symbols text;         // lower-case for words
    bool space_required;  // at least one whitespace character before this atom
  };
  struct Pattern {
    std::vector<Atom> atoms;
  };
  // Trie over normalised labels: lower-cased symbols plus kSeparator.
  struct TrieNode {
    std::vector<std::pair<int32_t, int32_t>> edges;  // (symbol, child node)
    int32_t label = -1;           // label ending here
    bool needs_boundary = false;  // that label ends in a word character
  };

  std::vector<Pattern> patterns;
  std::vector<TrieNode> trie{TrieNode{}};
  bool first_low[256] = {};         // symbols < 256 that can start a keyword
  std::vector<uint32_t> first_high;  // the others, sorted

  int32_t Child(int32_t node, int32_t symbol) const {
    for (const auto& [edge, child] : trie[static_cast<size_t>(node)].edges) {
      if (edge == symbol) return child;
    }
    return -1;
  }

  bool CanStart(uint32_t symbol) const {
    return symbol < 256 ? first_low[symbol]
                        : std::binary_search(first_high.begin(), first_high.end(), symbol);
  }

  void AddPattern(const Symbols& templ, const std::string& shown) {
    const Symbols placeholder = Bytes(kPlaceholder);
    const auto at = std::search(templ.begin(), templ.end(), placeholder.begin(), placeholder.end());
    Check(at != templ.end(), "pattern '", shown, "' has no {action} placeholder");
    Check(std::all_of(at + static_cast<std::ptrdiff_t>(placeholder.size()), templ.end(), IsSpace),
          "pattern '", shown,
          "' must end with {action} (closing marks after the label are tolerated anyway)");
    const auto end = static_cast<size_t>(at - templ.begin());
    Pattern pattern;
    bool saw_space = false;
    size_t i = 0;
    while (i < end) {
      const uint32_t c = templ[i];
      if (IsSpace(c)) {
        saw_space = true;
        ++i;
        continue;
      }
      size_t j = i + 1;
      Atom atom{IsWord(c), {}, false};
      if (atom.word) {
        while (j < end && IsWord(templ[j])) ++j;
        for (size_t k = i; k < j; ++k) atom.text.push_back(Lower(templ[k]));
        atom.space_required = saw_space && !pattern.atoms.empty() && pattern.atoms.back().word;
      } else {
        // A run of non-ASCII symbols stays one atom: no whitespace inside a character.
        if (c >= 0x80) {
          while (j < end && templ[j] >= 0x80) ++j;
        }
        atom.text.assign(templ.begin() + static_cast<std::ptrdiff_t>(i),
                         templ.begin() + static_cast<std::ptrdiff_t>(j));
      }
      pattern.atoms.push_back(std::move(atom));
      saw_space = false;
      i = j;
    }
    Check(!pattern.atoms.empty(), "pattern '", shown, "' needs a keyword before {action}");
    const Atom& first = pattern.atoms.front();
    const uint32_t c = first.text[0];
    if (c < 256) {
      first_low[c] = true;
      if (first.word && c >= 'a' && c <= 'z') first_low[c - 'a' + 'A'] = true;
    } else {
      first_high.insert(std::upper_bound(first_high.begin(), first_high.end(), c), c);
    }
    patterns.push_back(std::move(pattern));
  }

  void AddLabel(const Symbols& label, int32_t index, const std::vector<std::string>& shown) {
    int32_t node = 0;
    bool pending_separator = false;
    uint32_t last = 0;
    for (const uint32_t c : label) {
      if (IsLabelSeparator(c)) {
        pending_separator = node != 0;  // leading separators are dropped
        continue;
      }
      for (int step = pending_separator ? 0 : 1; step < 2; ++step) {
        const int32_t symbol = step == 0 ? kSeparator : static_cast<int32_t>(Lower(c));
        int32_t child = Child(node, symbol);
        if (child < 0) {
          child = static_cast<int32_t>(trie.size());
          trie[static_cast<size_t>(node)].edges.emplace_back(symbol, child);
          trie.emplace_back();
        }
        node = child;
      }
      pending_separator = false;
      last = c;
    }
    const auto& text = shown[static_cast<size_t>(index)];
    Check(node != 0, "label ", index, " ('", text, "') is empty after removing spaces/underscores");
    TrieNode& end = trie[static_cast<size_t>(node)];
    if (end.label >= 0) {
      ThrowInvalid("labels ", end.label, " ('", shown[static_cast<size_t>(end.label)], "') and ",
                   index, " ('", text, "') are the same up to case and spaces/underscores");
    }
    end.label = index;
    end.needs_boundary = IsWord(last);
  }
};

namespace {

using Grammar = ActionParser::Grammar;

// The scan over one text whose units are bytes or code points of type Unit.
template <class Unit>
class Scanner {
 public:
  Scanner(const Grammar& grammar, const Unit* data, size_t size)
      : grammar_(grammar), data_(data), size_(size) {}

  ParseOutcome Parse(const bool* legal_row) const {
    // Scan backwards: the first keyword found from the end is the one that decides.
    for (size_t pos = size_; pos-- > 0;) {
      if (!grammar_.CanStart(data_[pos])) continue;
      for (const Grammar::Pattern& pattern : grammar_.patterns) {
        const size_t end = MatchKeyword(pattern, pos);
        if (end == kNone) continue;
        const int32_t label = MatchValue(end);
        if (label < 0) return {-1, ParseStatus::kUnknownLabel};
        if (legal_row != nullptr && !legal_row[label]) return {label, ParseStatus::kIllegal};
        return {label, ParseStatus::kOk};
      }
    }
    return {-1, ParseStatus::kNoMatch};
  }

 private:
  static constexpr size_t kNone = ~size_t{0};

  size_t SkipSpaces(size_t p) const {
    while (p < size_ && IsSpace(data_[p])) ++p;
    return p;
  }

  // End of the keyword part of `pattern` starting at pos, or kNone.
  size_t MatchKeyword(const Grammar::Pattern& pattern, size_t pos) const {
    size_t p = pos;
    for (size_t a = 0; a < pattern.atoms.size(); ++a) {
      const Grammar::Atom& atom = pattern.atoms[a];
      if (a > 0) {
        const size_t space_start = p;
        p = SkipSpaces(p);
        if (atom.space_required && p == space_start) return kNone;
      }
      const size_t length = atom.text.size();
      if (size_ - p < length) return kNone;
      if (atom.word && a == 0 && p > 0 && IsWord(data_[p - 1])) return kNone;
      for (size_t k = 0; k < length; ++k) {
        const uint32_t unit = data_[p + k];
        if ((atom.word ? Lower(unit) : unit) != atom.text[k]) return kNone;
      }
      p += length;
      if (atom.word && p < size_ && IsWord(data_[p])) return kNone;
    }
    return p;
  }

  // Label index of the longest label starting exactly at pos, or -1.
  int32_t MatchLabelAt(size_t pos) const {
    size_t p = pos;
    int32_t node = 0;
    int32_t best = -1;
    while (true) {
      const Grammar::TrieNode& current = grammar_.trie[static_cast<size_t>(node)];
      if (current.label >= 0 && (!current.needs_boundary || p >= size_ || !IsWord(data_[p]))) {
        best = current.label;  // deeper nodes are longer labels: keep the last one found
      }
      if (p >= size_) break;
      const uint32_t unit = data_[p];
      if (IsLabelSeparator(unit)) {
        node = grammar_.Child(node, kSeparator);
        while (p < size_ && IsLabelSeparator(data_[p])) ++p;
      } else {
        node = grammar_.Child(node, static_cast<int32_t>(Lower(unit)));
        ++p;
      }
      if (node < 0) break;
    }
    return best;
  }

  // The label after a keyword: skips whitespace and up to kMaxOpeners opening marks.
  int32_t MatchValue(size_t pos) const {
    size_t p = SkipSpaces(pos);
    for (int openers = 0;; ++openers) {
      const int32_t label = MatchLabelAt(p);
      if (label >= 0) return label;
      if (openers == kMaxOpeners || p >= size_ || !IsOpener(data_[p])) return -1;
      p = SkipSpaces(p + 1);
    }
  }

  const Grammar& grammar_;
  const Unit* data_;
  size_t size_;
};

template <class Unit>
ParseOutcome ScanAs(const Grammar& grammar, const TextRef& text, const bool* legal_row) {
  return Scanner<Unit>(grammar, static_cast<const Unit*>(text.data), text.length).Parse(legal_row);
}

}  // namespace

ActionParser::ActionParser(std::vector<std::string> labels, std::vector<std::string> patterns)
    : labels_(std::move(labels)), patterns_(std::move(patterns)) {
  Check(!labels_.empty(), "labels must not be empty");
  Check(labels_.size() <= (size_t{1} << 24), "too many labels: ", labels_.size());
  Check(!patterns_.empty(), "patterns must not be empty");
  // Both alphabets are built from the same text, so they accept exactly the same inputs.
  auto bytes = std::make_shared<Grammar>();
  auto code_points = std::make_shared<Grammar>();
  for (size_t i = 0; i < labels_.size(); ++i) {
    Symbols decoded;
    Check(DecodeUtf8(labels_[i], &decoded), "label ", i, " is not valid UTF-8");
    bytes->AddLabel(Bytes(labels_[i]), static_cast<int32_t>(i), labels_);
    code_points->AddLabel(decoded, static_cast<int32_t>(i), labels_);
  }
  for (const auto& templ : patterns_) {
    Symbols decoded;
    Check(DecodeUtf8(templ, &decoded), "pattern '", templ, "' is not valid UTF-8");
    bytes->AddPattern(Bytes(templ), templ);
    code_points->AddPattern(decoded, templ);
  }
  bytes_ = std::move(bytes);
  code_points_ = std::move(code_points);
}

ParseOutcome ActionParser::Parse(const TextRef& text, const bool* legal_row) const noexcept {
  if (text.data == nullptr && text.length > 0) return {-1, ParseStatus::kNoMatch};
  switch (text.encoding) {
    case TextRef::Encoding::kUtf8: return ScanAs<uint8_t>(*bytes_, text, legal_row);
    case TextRef::Encoding::kLatin1: return ScanAs<uint8_t>(*code_points_, text, legal_row);
    case TextRef::Encoding::kUcs2: return ScanAs<uint16_t>(*code_points_, text, legal_row);
    case TextRef::Encoding::kUcs4: return ScanAs<uint32_t>(*code_points_, text, legal_row);
  }
  return {-1, ParseStatus::kNoMatch};
}

void ActionParser::ParseRange(const TextRef* texts, int64_t begin, int64_t end, const bool* legal,
                              int32_t* actions, int8_t* statuses) const noexcept {
  const int64_t width = num_labels();
  for (int64_t i = begin; i < end; ++i) {
    const ParseOutcome outcome = Parse(texts[i], legal == nullptr ? nullptr : legal + i * width);
    actions[i] = outcome.action;
    statuses[i] = static_cast<int8_t>(outcome.status);
  }
}

}  // namespace rlft::text
