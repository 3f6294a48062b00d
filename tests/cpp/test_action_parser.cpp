// Tables for the action parser: valid and malformed answers, several matches, label
// variants (case, quotes, brackets, punctuation, spaces), prefixes, numbers vs names,
// and hostile inputs (empty, 10 MB, NUL bytes, invalid UTF-8).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rlft/core/check.h"
#include "rlft/text/action_parser.h"

namespace rlft::text {
namespace {

const std::vector<std::string> kColours = {"blue", "green", "red", "yellow", "orange"};
const std::vector<std::string> kDefaultPatterns = {"ACTION={action}"};

struct Row {
  std::string text;
  int32_t action;
  ParseStatus status;
};

void ExpectTable(const ActionParser& parser, const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    const ParseOutcome got = parser.Parse(row.text);
    EXPECT_EQ(got.action, row.action) << "text: " << row.text;
    EXPECT_EQ(got.status, row.status) << "text: " << row.text;
  }
}

TEST(ActionParser, ValidAnswers) {
  const ActionParser parser(kColours, kDefaultPatterns);
  ExpectTable(parser, {
      {"ACTION=blue", 0, ParseStatus::kOk},
      {"I think green is best.\nACTION=green", 1, ParseStatus::kOk},
      {"ACTION = red", 2, ParseStatus::kOk},
      {"action=Yellow", 3, ParseStatus::kOk},
      {"Action =\n  ORANGE", 4, ParseStatus::kOk},
      {"**ACTION=blue**", 0, ParseStatus::kOk},
  });
}

TEST(ActionParser, MalformedAnswers) {
  const ActionParser parser(kColours, kDefaultPatterns);
  ExpectTable(parser, {
      {"", -1, ParseStatus::kNoMatch},
      {"I pick blue", -1, ParseStatus::kNoMatch},
      {"ACTION blue", -1, ParseStatus::kNoMatch},
      {"REACTION=blue", -1, ParseStatus::kNoMatch},   // keyword must be a whole word
      {"ACTIONS=blue", -1, ParseStatus::kNoMatch},
      {"ACTION=", -1, ParseStatus::kUnknownLabel},
      {"ACTION=X", -1, ParseStatus::kUnknownLabel},
      {"ACTION=purple", -1, ParseStatus::kUnknownLabel},
      {"ACTION=bluegreen", -1, ParseStatus::kUnknownLabel},
      {"ACTION=\"\"\"\"\"blue", -1, ParseStatus::kUnknownLabel},  // more than kMaxOpeners
  });
}

TEST(ActionParser, LastMatchDecides) {
  const ActionParser parser(kColours, kDefaultPatterns);
  ExpectTable(parser, {
      {"ACTION=blue then ACTION=red", 2, ParseStatus::kOk},
      {"Format: ACTION=X. Step=1 ACTION=green. So ACTION=orange.", 4, ParseStatus::kOk},
      // The final answer is unreadable: an earlier valid one does not rescue it.
      {"ACTION=blue ... final ACTION=X", -1, ParseStatus::kUnknownLabel},
      {"ACTION=blue and then ACTION=", -1, ParseStatus::kUnknownLabel},
      // Text after the last answer is ignored.
      {"ACTION=red\nI chose red because it paid best.", 2, ParseStatus::kOk},
  });
}

TEST(ActionParser, CaseQuoteBracketPunctuationTolerance) {
  const ActionParser parser(kColours, kDefaultPatterns);
  ExpectTable(parser, {
      {"ACTION=BLUE", 0, ParseStatus::kOk},
      {"ACTION='green'", 1, ParseStatus::kOk},
      {"ACTION=\"red\".", 2, ParseStatus::kOk},
      {"ACTION=[yellow]", 3, ParseStatus::kOk},
      {"ACTION=(orange)!", 4, ParseStatus::kOk},
      {"ACTION=`blue`", 0, ParseStatus::kOk},
      {"ACTION= ** [ \"Green\" ] **", 1, ParseStatus::kOk},
      {"ACTION=<red>", 2, ParseStatus::kOk},
      {"ACTION=red, because", 2, ParseStatus::kOk},
      {"ACTION=red button", 2, ParseStatus::kOk},
  });
}

TEST(ActionParser, LabelsWithSpacesAndUnderscores) {
  const ActionParser parser({"star_wars_(1977)", "star_wars", "the matrix", "fargo"},
                            kDefaultPatterns);
  ExpectTable(parser, {
      {"ACTION=star_wars_(1977)", 0, ParseStatus::kOk},
      {"ACTION=Star Wars (1977)", 0, ParseStatus::kOk},
      {"ACTION=Star   wars\t(1977).", 0, ParseStatus::kOk},
      {"ACTION=star wars", 1, ParseStatus::kOk},
      {"ACTION=Star Wars (1980)", 1, ParseStatus::kOk},  // longest label that matches
      {"ACTION=the_matrix", 2, ParseStatus::kOk},
      {"ACTION=THE MATRIX!", 2, ParseStatus::kOk},
      {"ACTION=thematrix", -1, ParseStatus::kUnknownLabel},
      {"ACTION=\"Fargo\"", 3, ParseStatus::kOk},
  });
}

TEST(ActionParser, NumbersVersusNames) {
  std::vector<std::string> digits;
  for (int i = 0; i < 12; ++i) digits.push_back(std::to_string(i));
  const ActionParser parser(digits, kDefaultPatterns);
  ExpectTable(parser, {
      {"ACTION=1", 1, ParseStatus::kOk},
      {"ACTION=10", 10, ParseStatus::kOk},
      {"ACTION=11.", 11, ParseStatus::kOk},
      {"ACTION=12", -1, ParseStatus::kUnknownLabel},
      {"ACTION=one", -1, ParseStatus::kUnknownLabel},
      {"ACTION=4a", -1, ParseStatus::kUnknownLabel},
      {"ACTION=[4]", 4, ParseStatus::kOk},
  });
  const ActionParser names(kColours, kDefaultPatterns);
  EXPECT_EQ(names.Parse("ACTION=0").status, ParseStatus::kUnknownLabel);
}

TEST(ActionParser, LabelsThatArePrefixesOfOthers) {
  const ActionParser parser({"red", "reddish", "red wine", "a", "ab"}, kDefaultPatterns);
  ExpectTable(parser, {
      {"ACTION=red", 0, ParseStatus::kOk},
      {"ACTION=reddish", 1, ParseStatus::kOk},
      {"ACTION=red wine", 2, ParseStatus::kOk},
      {"ACTION=red_wine.", 2, ParseStatus::kOk},
      {"ACTION=red whine", 0, ParseStatus::kOk},
      {"ACTION=reddishness", -1, ParseStatus::kUnknownLabel},
      {"ACTION=ab", 4, ParseStatus::kOk},
      {"ACTION=abc", -1, ParseStatus::kUnknownLabel},
  });
}

TEST(ActionParser, SeveralPatterns) {
  const ActionParser parser(kColours, {"ACTION={action}", "Final answer: {action}"});
  ExpectTable(parser, {
      {"final answer: red", 2, ParseStatus::kOk},
      {"FINAL   ANSWER : red", 2, ParseStatus::kOk},
      {"finalanswer: red", -1, ParseStatus::kNoMatch},  // words in the template stay apart
      {"ACTION=blue. Final answer: green", 1, ParseStatus::kOk},
      {"Final answer: green. ACTION=blue", 0, ParseStatus::kOk},
  });
}

TEST(ActionParser, LegalMask) {
  const ActionParser parser(kColours, kDefaultPatterns);
  const bool legal[5] = {true, false, true, true, true};
  EXPECT_EQ(parser.Parse("ACTION=green", legal).status, ParseStatus::kIllegal);
  EXPECT_EQ(parser.Parse("ACTION=green", legal).action, 1);
  EXPECT_EQ(parser.Parse("ACTION=red", legal).status, ParseStatus::kOk);
  EXPECT_EQ(parser.Parse("ACTION=X", legal).status, ParseStatus::kUnknownLabel);
}

TEST(ActionParser, BatchMatchesSingleCalls) {
  const ActionParser parser(kColours, kDefaultPatterns);
  const std::vector<TextRef> texts = {TextRef::Utf8("ACTION=red"), TextRef::Utf8("nothing"),
                                      TextRef::Utf8("ACTION=blue"), TextRef::Utf8("ACTION=pink")};
  const bool legal[20] = {true, true, true, true, true, true, true, true, true, true,
                          false, true, true, true, true, true, true, true, true, true};
  std::vector<int32_t> actions(4);
  std::vector<int8_t> statuses(4);
  parser.ParseRange(texts.data(), 0, 4, legal, actions.data(), statuses.data());
  EXPECT_EQ(actions, (std::vector<int32_t>{2, -1, 0, -1}));
  EXPECT_EQ(statuses, (std::vector<int8_t>{0, 1, 3, 2}));
}

TEST(ActionParser, EmptyInputNulBytesAndInvalidUtf8) {
  const ActionParser parser(kColours, kDefaultPatterns);
  EXPECT_EQ(parser.Parse(std::string_view()).status, ParseStatus::kNoMatch);
  const std::string with_nul("ACTION=\0blue", 12);
  EXPECT_EQ(parser.Parse(with_nul).status, ParseStatus::kUnknownLabel);
  const std::string nul_after("ACTION=red\0\0\xff", 13);
  EXPECT_EQ(parser.Parse(nul_after).action, 2);
  const std::string invalid_utf8 = "\xff\xfe\xc3(ACTION=\xe2\x82 ACTION=green\x80";
  EXPECT_EQ(parser.Parse(invalid_utf8).action, 1);
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  EXPECT_EQ(parser.Parse(all_bytes).status, ParseStatus::kNoMatch);
}

TEST(ActionParser, NonAsciiLabelsAndPatterns) {
  const ActionParser parser({"Amélie (2001)", "blue"}, {"Réponse → {action}"});
  EXPECT_EQ(parser.Parse("RÉPONSE → amélie (2001)").status, ParseStatus::kNoMatch);
  EXPECT_EQ(parser.Parse("réponse→ AMéLIE_(2001)").action, 0);
  EXPECT_EQ(parser.Parse("Réponse →blue").action, 1);
}

// The same text as UTF-8 bytes and as code points (1, 2 or 4 bytes each) parses the same.
TEST(ActionParser, CodePointTextsMatchUtf8) {
  const ActionParser parser({"Amélie (2001)", "blue", "€uro", "😀 smile"},
                            {"ACTION={action}", "Réponse→{action}"});
  const std::vector<std::pair<std::u32string, std::string>> cases = {
      {U"ACTION=amélie_(2001).", "ACTION=am\xc3\xa9lie_(2001)."},
      {U"é ACTION=BLUE", "\xc3\xa9 ACTION=BLUE"},
      {U"réponse → €URO", "r\xc3\xa9ponse \xe2\x86\x92 \xe2\x82\xacURO"},
      {U"ACTION=😀_Smile!", "ACTION=\xf0\x9f\x98\x80_Smile!"},
      {U"ACTION=AMÉLIE (2001)", "ACTION=AM\xc3\x89LIE (2001)"},
  };
  for (const auto& [code_points, utf8] : cases) {
    const ParseOutcome want = parser.Parse(utf8);
    const ParseOutcome ucs4 =
        parser.Parse(TextRef{code_points.data(), code_points.size(), TextRef::Encoding::kUcs4});
    EXPECT_EQ(ucs4.action, want.action) << utf8;
    EXPECT_EQ(ucs4.status, want.status) << utf8;
    bool fits_ucs2 = true;
    bool fits_latin1 = true;
    std::u16string ucs2;
    std::string latin1;
    for (const char32_t c : code_points) {
      fits_ucs2 = fits_ucs2 && c < 0x10000;
      fits_latin1 = fits_latin1 && c < 0x100;
      ucs2.push_back(static_cast<char16_t>(c));
      latin1.push_back(static_cast<char>(c));
    }
    if (fits_ucs2) {
      const auto got = parser.Parse(TextRef{ucs2.data(), ucs2.size(), TextRef::Encoding::kUcs2});
      EXPECT_EQ(got.action, want.action) << utf8;
    }
    if (fits_latin1) {
      const auto got =
          parser.Parse(TextRef{latin1.data(), latin1.size(), TextRef::Encoding::kLatin1});
      EXPECT_EQ(got.action, want.action) << utf8;
    }
  }
  EXPECT_EQ(parser.Parse("ACTION=am\xc3\xa9lie_(2001).").action, 0);
  EXPECT_EQ(parser.Parse("r\xc3\xa9ponse \xe2\x86\x92 \xe2\x82\xacURO").action, 2);
  EXPECT_EQ(parser.Parse("ACTION=AM\xc3\x89LIE (2001)").status, ParseStatus::kUnknownLabel);
}

TEST(ActionParser, TenMegabyteInputs) {
  const ActionParser parser(kColours, kDefaultPatterns);
  const size_t size = 10u << 20;
  std::string filler(size, 'a');
  EXPECT_EQ(parser.Parse(filler).status, ParseStatus::kNoMatch);
  std::string answer = "ACTION=red " + filler;
  EXPECT_EQ(parser.Parse(answer).action, 2);
  // A keyword followed by 10 MB of whitespace or openers, and 10 MB of keywords.
  EXPECT_EQ(parser.Parse("ACTION=" + std::string(size, ' ')).status, ParseStatus::kUnknownLabel);
  EXPECT_EQ(parser.Parse("ACTION=" + std::string(size, '(')).status, ParseStatus::kUnknownLabel);
  std::string keywords;
  while (keywords.size() < size) keywords += "ACTION =";
  EXPECT_EQ(parser.Parse(keywords).status, ParseStatus::kUnknownLabel);
  const ActionParser spaced(kColours, {"a = b = {action}"});
  std::string near_misses;
  while (near_misses.size() < size) near_misses += "a =  \t a = ";
  EXPECT_EQ(spaced.Parse(near_misses).status, ParseStatus::kNoMatch);
  const ActionParser long_labels({std::string(1000, 'x'), std::string(999, 'x') + "y"},
                                 kDefaultPatterns);
  EXPECT_EQ(long_labels.Parse("ACTION=" + std::string(size, 'x')).status,
            ParseStatus::kUnknownLabel);
}

TEST(ActionParser, RejectsBadConfiguration) {
  EXPECT_THROW(ActionParser({}, kDefaultPatterns), InvalidArgument);
  EXPECT_THROW(ActionParser({"blue", " _ "}, kDefaultPatterns), InvalidArgument);
  EXPECT_THROW(ActionParser({"Blue", "blue"}, kDefaultPatterns), InvalidArgument);
  EXPECT_THROW(ActionParser({"star wars", "Star_Wars"}, kDefaultPatterns), InvalidArgument);
  EXPECT_THROW(ActionParser(kColours, {}), InvalidArgument);
  EXPECT_THROW(ActionParser(kColours, {"ACTION="}), InvalidArgument);
  EXPECT_THROW(ActionParser(kColours, {"{action}"}), InvalidArgument);
  EXPECT_THROW(ActionParser(kColours, {"  {action}"}), InvalidArgument);
  EXPECT_THROW(ActionParser(kColours, {"<a>{action}</a>"}), InvalidArgument);
  EXPECT_THROW(ActionParser(kColours, {"A={action} B={action}"}), InvalidArgument);
  EXPECT_THROW(ActionParser({"bl\xffue"}, kDefaultPatterns), InvalidArgument);
  EXPECT_THROW(ActionParser(kColours, {"A\xc3={action}"}), InvalidArgument);
  EXPECT_NO_THROW(ActionParser(kColours, {"ACTION={action}  \n"}));
}

}  // namespace
}  // namespace rlft::text
