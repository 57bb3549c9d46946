/* test-core-jsonl.c -- the JSON-lines codec of the control protocol
 * (lib/core/jsonl.c): the line framer's 8 KiB bound (an over-long line is
 * reported once and skipped, the next line is intact), strict JSON (no
 * fractions, no duplicate keys, no NUL, no invalid UTF-8 or lone
 * surrogates, no trailing garbage, bounded nesting), escapes decoded, and
 * the writer's output read back by the parser and by Python's json. */
#include <unistd.h>

#include "core/core.h"
#include "test.h"

static int take_all(sshmux__linebuf_t *lb, const char *data, size_t n,
                    char lines[][64], int *nlines, int *toolong) {
  const char *p = data;
  while (n > 0) {
    char *line;
    size_t len;
    int r = sshmux__linebuf_take(lb, &p, &n, &line, &len);
    if (r == SSHMUX_ETOOLONG)
      (*toolong)++;
    else if (r == 1) {
      ASSERT_EQ(strlen(line), len);
      snprintf(lines[(*nlines)++], 64, "%s", line);
    } else
      ASSERT_EQ(r, 0);
  }
  return 0;
}

TEST_IMPL(ipc_linebuf_bounds) {
  static sshmux__linebuf_t lb;
  char lines[16][64];
  int n = 0, toolong = 0;
  char *big = malloc(20000);

  sshmux__linebuf_init(&lb);
  /* Lines split across feeds, CRLF, empty lines. */
  take_all(&lb, "ab", 2, lines, &n, &toolong);
  ASSERT_EQ(n, 0);
  ASSERT_EQ(sshmux__linebuf_pending(&lb), 2);
  take_all(&lb, "c\r\n\nxyz\n", 8, lines, &n, &toolong);
  ASSERT_EQ(n, 3);
  ASSERT_STR_EQ(lines[0], "abc");
  ASSERT_STR_EQ(lines[1], "");
  ASSERT_STR_EQ(lines[2], "xyz");
  /* Exactly 8192 bytes is fine; 8193 is too long, reported once, and
   * the following line survives, in one feed or byte by byte. */
  memset(big, 'a', 8192);
  big[8192] = '\n';
  n = 0;
  take_all(&lb, big, 8193, lines, &n, &toolong);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(toolong, 0);
  memset(big, 'b', 19000);
  memcpy(big + 19000, "\nok\n", 4);
  n = 0;
  take_all(&lb, big, 19004, lines, &n, &toolong);
  ASSERT_EQ(toolong, 1);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(lines[0], "ok");
  toolong = n = 0;
  for (int i = 0; i < 19000; i++)
    take_all(&lb, "c", 1, lines, &n, &toolong);
  ASSERT_EQ(toolong, 1);
  ASSERT_LE(sshmux__linebuf_pending(&lb), SSHMUX__LINE_MAX);
  take_all(&lb, "\nnext\n", 6, lines, &n, &toolong);
  ASSERT_EQ(toolong, 1);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(lines[0], "next");
  free(big);
  return 0;
}

static int parses(const char *s) {
  sshmux__json_t *j = NULL;
  int r = sshmux__json_parse(s, strlen(s), &j);
  if (r == 0)
    ASSERT(j != NULL);
  else
    ASSERT(j == NULL);
  sshmux__json_free(j);
  return r;
}

TEST_IMPL(ipc_json_strict) {
  static const char *good[] = {"{}",
                               "[]",
                               " {\"a\" : 1 } ",
                               "{\"a\":[1,-2,true,false,null,\"x\"]}",
                               "\"\\u00e9\\ud83d\\ude00\"",
                               "-9223372036854775808",
                               "9223372036854775807",
                               "{\"cmd\":\"status\",\"id\":7}",
                               "0",
                               "\"caf\xc3\xa9\"",
                               NULL};
  static const char *bad[] = {"",
                              "{",
                              "{\"a\":1,}",
                              "[1,]",
                              "{\"a\" 1}",
                              "{a:1}",
                              "1.5",
                              "1e3",
                              "01",
                              "-",
                              "9223372036854775808",
                              "\"\\u0000\"",
                              "\"\\ud800\"",
                              "\"\\udc00\"",
                              "\"\\ud800\\u0041\"",
                              "\"\\x\"",
                              "\"a\tb\"",
                              "\"\xc0\xaf\"",
                              "\"\xed\xa0\x80\"",
                              "\"\xf5\x80\x80\x80\"",
                              "\"\xe2\x82\"",
                              "{\"a\":1,\"a\":2}",
                              "{} {}",
                              "{}x",
                              "tru",
                              "nul",
                              "[1 2]",
                              "'a'",
                              NULL};
  char deep[200];

  for (int i = 0; good[i] != NULL; i++)
    if (parses(good[i]) != 0)
      test_fail(__FILE__, __LINE__, "refused: %s", good[i]);
  for (int i = 0; bad[i] != NULL; i++)
    if (parses(bad[i]) == 0)
      test_fail(__FILE__, __LINE__, "accepted: %s", bad[i]);
  /* Nesting: 16 levels are fine, 17 are refused. */
  memset(deep, '[', 16);
  memset(deep + 16, ']', 16);
  deep[32] = '\0';
  ASSERT_OK(parses(deep));
  memset(deep, '[', 17);
  memset(deep + 17, ']', 17);
  deep[34] = '\0';
  ASSERT_ERR(parses(deep), SSHMUX_ETOOLONG);
  /* A NUL byte inside the input is garbage, not an end. */
  {
    sshmux__json_t *j = NULL;
    ASSERT_NE(sshmux__json_parse("{\"a\":\"x\0\"}", 10, &j), 0);
    ASSERT_NE(sshmux__json_parse("{}\0", 3, &j), 0);
  }
  return 0;
}

TEST_IMPL(ipc_json_tree_and_lookups) {
  const char *s = "{\"cmd\":\"answer\",\"prompt\":12,\"answers\":[\"a\\\"b\","
                  "\"\\n\\t\\\\\\/\"],\"flag\":true,\"nested\":{\"k\":[{}]}}";
  sshmux__json_t *j = NULL;
  const sshmux__json_t *a;

  ASSERT_OK(sshmux__json_parse(s, strlen(s), &j));
  ASSERT_EQ(j->type, SSHMUX__JSON_OBJECT);
  ASSERT_EQ(j->count, 5);
  ASSERT_STR_EQ(sshmux__json_get_str(j, "cmd"), "answer");
  ASSERT_EQ(sshmux__json_get_int(j, "prompt", -1), 12);
  ASSERT_EQ(sshmux__json_get_int(j, "cmd", -1), -1); /* wrong type */
  ASSERT_EQ(sshmux__json_get_bool(j, "flag", 0), 1);
  ASSERT(sshmux__json_get_str(j, "missing") == NULL);
  a = sshmux__json_get(j, "answers");
  ASSERT(a != NULL && a->type == SSHMUX__JSON_ARRAY && a->count == 2);
  ASSERT_STR_EQ(a->child->str, "a\"b");
  ASSERT_STR_EQ(a->child->next->str, "\n\t\\/");
  ASSERT_EQ(a->child->next->str_len, 4);
  a = sshmux__json_get(sshmux__json_get(j, "nested"), "k");
  ASSERT(a != NULL && a->count == 1 && a->child->type == SSHMUX__JSON_OBJECT);
  sshmux__json_free(j);
  return 0;
}

TEST_IMPL(ipc_json_writer_roundtrip) {
  sshmux__jsonw_t w;
  sshmux__json_t *j = NULL;
  const char *nasty = "q\"b\\s\x01\x1f\n\t\x7f caf\xc3\xa9 \xff end";
  const char *argv[] = {
      "/usr/bin/python3", "-c",
      "import json,sys\n"
      "d=json.loads(sys.stdin.read())\n"
      "assert d['s'].startswith('q\"b\\\\s\\x01\\x1f\\n\\t')\n"
      "assert '\\ufffd' in d['s'] and 'caf\\u00e9' in d['s']\n"
      "assert d['n']==-5 and d['u']==9223372036854775807\n"
      "assert d['a']==[True,False,None,{}]\n"
      "print('OK')",
      NULL};
  test_cmd_t c = {0};
  char *out = NULL;

  sshmux__jsonw_init(&w, 4096);
  sshmux__jsonw_obj_open(&w);
  sshmux__jsonw_kstr(&w, "s", nasty);
  sshmux__jsonw_kint(&w, "n", -5);
  sshmux__jsonw_kuint(&w, "u", UINT64_MAX); /* clamped to int64 */
  sshmux__jsonw_key(&w, "a");
  sshmux__jsonw_arr_open(&w);
  sshmux__jsonw_bool(&w, 1);
  sshmux__jsonw_bool(&w, 0);
  sshmux__jsonw_null(&w);
  sshmux__jsonw_obj_open(&w);
  sshmux__jsonw_obj_close(&w);
  sshmux__jsonw_arr_close(&w);
  sshmux__jsonw_obj_close(&w);
  ASSERT_OK(sshmux__jsonw_line(&w));
  ASSERT_EQ(w.s[w.len - 1], '\n');
  ASSERT(memchr(w.s, '\n', w.len - 1) == NULL); /* one line */
  ASSERT_OK(sshmux__json_parse(w.s, w.len - 1, &j));
  ASSERT_EQ(sshmux__json_get_int(j, "u", 0), INT64_MAX);
  sshmux__json_free(j);
  if (test_require_program("/usr/bin/python3") == 0) {
    c.argv = argv;
    c.in = w.s;
    c.in_len = w.len;
    c.out = &out;
    ASSERT_EQ(test_run_status(&c), 0);
    ASSERT_STR_EQ(out, "OK\n");
    free(out);
  }
  sshmux__jsonw_free(&w);
  /* The cap holds. */
  sshmux__jsonw_init(&w, 16);
  sshmux__jsonw_obj_open(&w);
  sshmux__jsonw_kstr(&w, "long", "0123456789abcdef");
  sshmux__jsonw_obj_close(&w);
  ASSERT_ERR(sshmux__jsonw_line(&w), SSHMUX_ETOOLONG);
  ASSERT_LE(w.len, 16);
  sshmux__jsonw_free(&w);
  return 0;
}
