/* test-core-safefile.c -- the safe-file layer (lib/core/safefile.c): atomic
 * writes and appends, bounded reads, and one test per refusal (symlink as
 * target, as parent, several levels up; group-writable file; world-writable
 * dir; wrong owner).  Failures are provoked in ways root cannot bypass (the
 * target being a directory, RLIMIT_FSIZE), since CI runs as root. */
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "core/core.h"
#include "test.h"

/* Number of entries in dir other than "." and "..". */
static int count_entries(const char *dir) {
  return test_dir_each(dir, NULL, NULL);
}

static void assert_file(const char *path, const char *want) {
  char *got = test_read_file(path, NULL);
  ASSERT_STR_EQ(got, want);
  free(got);
}

TEST_IMPL(safefile_write_read_roundtrip) {
  const char *p = test_path("w/f");
  char *data = NULL;
  size_t len = 0;
  struct stat st;
  mode_t old = umask(077); /* the mode must not depend on the umask */

  ASSERT_EQ(mkdir(test_path("w"), 0700), 0);
  ASSERT_OK(sshmux_file_write_atomic(p, "hello\n", 6, 0644));
  umask(old);
  ASSERT_EQ(stat(p, &st), 0);
  ASSERT_EQ(st.st_mode & 07777, 0644);
  ASSERT_OK(sshmux_file_read(p, 100, &data, &len));
  ASSERT_EQ(len, 6);
  ASSERT_STR_EQ(data, "hello\n");
  sshmux_free(data);
  /* Empty contents are a valid file. */
  ASSERT_OK(sshmux_file_write_atomic(p, NULL, 0, 0600));
  ASSERT_OK(sshmux_file_read(p, 100, &data, &len));
  ASSERT_EQ(len, 0);
  ASSERT_STR_EQ(data, "");
  sshmux_free(data);
  ASSERT_ERR(sshmux_file_write_atomic(p, "x", 1, 010000), SSHMUX_EINVAL);
  ASSERT_ERR(sshmux_file_read(test_path("w/none"), 100, &data, NULL),
             UV_ENOENT);
  return 0;
}

TEST_IMPL(safefile_replace_leaves_no_temp) {
  const char *dir = test_path("r");
  const char *p = test_path("r/file");
  char big[70000];

  ASSERT_EQ(mkdir(dir, 0700), 0);
  memset(big, 'b', sizeof(big));
  for (int i = 0; i < 20; i++) {
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "version %d\n", i);
    ASSERT_OK(sshmux_file_write_atomic(p, buf, (size_t)n, 0600));
    assert_file(p, buf);
    ASSERT_EQ(count_entries(dir), 1);
  }
  ASSERT_OK(sshmux_file_write_atomic(p, big, sizeof(big), 0600));
  ASSERT_EQ(count_entries(dir), 1);
  /* A relative path is written in the current directory. */
  ASSERT_EQ(chdir(dir), 0);
  ASSERT_OK(sshmux_file_write_atomic("rel", "r\n", 2, 0600));
  assert_file(test_path("r/rel"), "r\n");
  ASSERT_EQ(count_entries(dir), 2);
  /* A target name near NAME_MAX still gets a valid temp name. */
  {
    char name[256];
    memset(name, 'n', 250);
    name[250] = '\0';
    ASSERT_OK(sshmux_file_write_atomic(name, "l\n", 2, 0600));
    ASSERT_EQ(count_entries(dir), 3);
  }
  return 0;
}

/* The symlink refusals: the link's destination must stay untouched. */
TEST_IMPL(safefile_refuse_symlink_target) {
  const char *real = test_path("real");
  const char *link = test_path("link");
  char *data = NULL;

  ASSERT_EQ(test_write_file(real, "orig\n", 0600), 0);
  ASSERT_EQ(symlink(real, link), 0);
  ASSERT_ERR(sshmux_path_check_symlinks(link), SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_file_write_atomic(link, "evil\n", 5, 0600),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_file_append_atomic(link, "evil\n", 5, 0600),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_file_read(link, 100, &data, NULL), SSHMUX_ESYMLINK);
  ASSERT(data == NULL);
  ASSERT_ERR(sshmux_path_check_perms(link, getuid()), SSHMUX_ESYMLINK);
  assert_file(real, "orig\n");
  ASSERT_EQ(count_entries(test_path("")), 2);
  /* A dangling link is refused too, not created through. */
  ASSERT_EQ(symlink(test_path("nowhere"), test_path("dangling")), 0);
  ASSERT_ERR(sshmux_file_write_atomic(test_path("dangling"), "x", 1, 0600),
             SSHMUX_ESYMLINK);
  ASSERT_EQ(access(test_path("nowhere"), F_OK), -1);
  ASSERT_OK(sshmux_path_check_symlinks(real));
  return 0;
}

TEST_IMPL(safefile_refuse_symlink_parent) {
  char *data = NULL;

  ASSERT_EQ(mkdir(test_path("realdir"), 0700), 0);
  ASSERT_EQ(test_write_file(test_path("realdir/f"), "orig\n", 0600), 0);
  ASSERT_EQ(symlink("realdir", test_path("linkdir")), 0);
  ASSERT_ERR(sshmux_path_check_symlinks(test_path("linkdir/f")),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_file_write_atomic(test_path("linkdir/f"), "e", 1, 0600),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_file_write_atomic(test_path("linkdir/new"), "e", 1, 0600),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_file_read(test_path("linkdir/f"), 100, &data, NULL),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_dir_ensure(test_path("linkdir/sub"), 0700),
             SSHMUX_ESYMLINK);
  assert_file(test_path("realdir/f"), "orig\n");
  ASSERT_EQ(count_entries(test_path("realdir")), 1);
  /* A missing leaf under a symlinked parent is still a symlink refusal:
   * the ancestors are checked before the missing leaf is reported. */
  ASSERT_ERR(sshmux_path_check_symlinks(test_path("linkdir/missing")),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_path_check_symlinks(test_path("realdir/missing")),
             UV_ENOENT);
  /* Relative paths are resolved against the cwd before the walk. */
  ASSERT_ERR(sshmux_path_check_symlinks("linkdir/f"), SSHMUX_ESYMLINK);
  ASSERT_OK(sshmux_path_check_symlinks("realdir/f"));
  return 0;
}

TEST_IMPL(safefile_refuse_symlink_far_ancestor) {
  /* a/b/c/d/f where "b" is a link to "real-b": three levels above f. */
  ASSERT_EQ(mkdir(test_path("a"), 0700), 0);
  ASSERT_EQ(mkdir(test_path("real-b"), 0700), 0);
  ASSERT_EQ(mkdir(test_path("real-b/c"), 0700), 0);
  ASSERT_EQ(mkdir(test_path("real-b/c/d"), 0700), 0);
  ASSERT_EQ(test_write_file(test_path("real-b/c/d/f"), "orig\n", 0600), 0);
  ASSERT_EQ(symlink(test_path("real-b"), test_path("a/b")), 0);
  ASSERT_ERR(sshmux_path_check_symlinks(test_path("a/b/c/d/f")),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_path_check_perms(test_path("a/b/c/d/f"), getuid()),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_file_write_atomic(test_path("a/b/c/d/f"), "e", 1, 0600),
             SSHMUX_ESYMLINK);
  ASSERT_ERR(sshmux_file_append_atomic(test_path("a/b/c/d/f"), "e", 1, 0600),
             SSHMUX_ESYMLINK);
  /* ".." does not hide a link: a/b/c/.. still passes through b. */
  ASSERT_ERR(sshmux_path_check_symlinks(test_path("a/b/c/../c/d/f")),
             SSHMUX_ESYMLINK);
  assert_file(test_path("real-b/c/d/f"), "orig\n");
  ASSERT_OK(sshmux_path_check_symlinks(test_path("real-b/c/d/f")));
  return 0;
}

TEST_IMPL(safefile_perms_accepts_test_dir) {
  /* The test directory lives under /tmp (root-owned, sticky, 1777): a
   * sticky root-owned ancestor must be accepted. */
  ASSERT_EQ(test_write_file(test_path("ok"), "x", 0600), 0);
  ASSERT_OK(sshmux_path_check_perms(test_path("ok"), getuid()));
  ASSERT_OK(sshmux_path_check_perms(test_path(""), getuid()));
  ASSERT_ERR(sshmux_path_check_perms(test_path("missing"), getuid()),
             UV_ENOENT);
  return 0;
}

TEST_IMPL(safefile_perms_group_writable_file) {
  const char *p = test_path("gw");

  ASSERT_EQ(test_write_file(p, "x", 0620), 0);
  ASSERT_EQ(chmod(p, 0620), 0);
  ASSERT_ERR(sshmux_path_check_perms(p, getuid()), SSHMUX_EPERM);
  ASSERT_EQ(chmod(p, 0602), 0); /* world-writable */
  ASSERT_ERR(sshmux_path_check_perms(p, getuid()), SSHMUX_EPERM);
  ASSERT_EQ(chmod(p, 0644), 0); /* readable by others is fine */
  ASSERT_OK(sshmux_path_check_perms(p, getuid()));
  return 0;
}

TEST_IMPL(safefile_perms_world_writable_dir) {
  const char *d = test_path("ww");
  const char *p = test_path("ww/f");

  ASSERT_EQ(mkdir(d, 0700), 0);
  ASSERT_EQ(test_write_file(p, "x", 0600), 0);
  ASSERT_OK(sshmux_path_check_perms(p, getuid()));
  ASSERT_EQ(chmod(d, 0777), 0);
  ASSERT_ERR(sshmux_path_check_perms(p, getuid()), SSHMUX_EPERM);
  ASSERT_EQ(chmod(d, 0770), 0);
  ASSERT_ERR(sshmux_path_check_perms(p, getuid()), SSHMUX_EPERM);
  /* Sticky: accepted as an ancestor only when owned by root, and never
   * as the target itself. */
  ASSERT_EQ(chmod(d, 01777), 0);
  if (geteuid() == 0) {
    ASSERT_OK(sshmux_path_check_perms(p, getuid()));
    ASSERT_ERR(sshmux_path_check_perms(d, getuid()), SSHMUX_EPERM);
  } else {
    ASSERT_ERR(sshmux_path_check_perms(p, getuid()), SSHMUX_EPERM);
  }
  return 0;
}

TEST_IMPL(safefile_perms_wrong_owner) {
  const char *d = test_path("od");
  const char *p = test_path("od/f");

  if (geteuid() != 0) {
    /* Giving a file away needs root (chown is privileged on Linux). */
    fprintf(stderr, "skipped: needs root to chown a file to another uid\n");
    return TEST_SKIP;
  }
  ASSERT_EQ(mkdir(d, 0755), 0);
  ASSERT_EQ(test_write_file(p, "x", 0644), 0);
  /* Checked on behalf of uid 1000: root-owned is fine, nobody's is not. */
  ASSERT_OK(sshmux_path_check_perms(p, 1000));
  ASSERT_EQ(chown(p, 65534, 65534), 0);
  ASSERT_ERR(sshmux_path_check_perms(p, 1000), SSHMUX_EPERM);
  ASSERT_OK(sshmux_path_check_perms(p, 65534));
  ASSERT_EQ(chown(p, 0, 0), 0);
  ASSERT_EQ(chown(d, 65534, 65534), 0); /* a parent owned by someone else */
  ASSERT_ERR(sshmux_path_check_perms(p, 1000), SSHMUX_EPERM);
  /* dir_ensure refuses an existing directory that is not ours. */
  ASSERT_ERR(sshmux_dir_ensure(d, 0700), SSHMUX_EPERM);
  return 0;
}

TEST_IMPL(safefile_failed_write_keeps_old_dir_target) {
  const char *d = test_path("t");

  ASSERT_EQ(mkdir(d, 0700), 0);
  ASSERT_EQ(test_write_file(test_path("t/inner"), "keep\n", 0600), 0);
  ASSERT_ERR(sshmux_file_write_atomic(d, "x", 1, 0600), UV_EISDIR);
  ASSERT_ERR(sshmux_file_append_atomic(d, "x", 1, 0600), UV_EISDIR);
  assert_file(test_path("t/inner"), "keep\n");
  ASSERT_EQ(count_entries(test_path("")), 1);
  ASSERT_EQ(count_entries(d), 1);
  /* A parent that is missing or a file fails cleanly too. */
  ASSERT_ERR(sshmux_file_write_atomic(test_path("nodir/f"), "x", 1, 0600),
             UV_ENOENT);
  ASSERT_ERR(sshmux_file_write_atomic(test_path("t/inner/f"), "x", 1, 0600),
             UV_ENOTDIR);
  return 0;
}

TEST_IMPL(safefile_failed_write_keeps_old_fsize) {
  const char *d = test_path("fs");
  const char *p = test_path("fs/f");
  static char big[65536];
  struct rlimit rl = {16384, 16384};

  /* RLIMIT_FSIZE binds root too: the write fails half-way (EFBIG) after
   * the temp file exists, which exercises the clean-up path. */
  ASSERT_EQ(mkdir(d, 0700), 0);
  ASSERT_EQ(test_write_file(p, "old contents\n", 0600), 0);
  memset(big, 'z', sizeof(big));
  signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0);
  ASSERT_ERR(sshmux_file_write_atomic(p, big, sizeof(big), 0600), UV_EFBIG);
  ASSERT_ERR(sshmux_file_append_atomic(p, big, sizeof(big), 0600), UV_EFBIG);
  assert_file(p, "old contents\n");
  ASSERT_EQ(count_entries(d), 1);
  return 0;
}

TEST_IMPL(safefile_append) {
  const char *p = test_path("ap");
  struct stat st;

  /* Created with the given mode when missing. */
  ASSERT_OK(sshmux_file_append_atomic(p, "one\n", 4, 0600));
  assert_file(p, "one\n");
  ASSERT_OK(sshmux_file_append_atomic(p, "two\n", 4, 0600));
  assert_file(p, "one\ntwo\n");
  /* A missing final newline in the old contents is supplied. */
  ASSERT_OK(sshmux_file_write_atomic(p, "no-newline", 10, 0640));
  ASSERT_OK(sshmux_file_append_atomic(p, "three\n", 6, 0600));
  assert_file(p, "no-newline\nthree\n");
  /* The existing file's mode wins over the argument. */
  ASSERT_EQ(stat(p, &st), 0);
  ASSERT_EQ(st.st_mode & 07777, 0640);
  /* An empty old file gets no spurious newline. */
  ASSERT_OK(sshmux_file_write_atomic(p, "", 0, 0600));
  ASSERT_OK(sshmux_file_append_atomic(p, "x\n", 2, 0600));
  assert_file(p, "x\n");
  ASSERT_EQ(count_entries(test_path("")), 1);
  return 0;
}

TEST_IMPL(safefile_read_cap) {
  const char *p = test_path("cap");
  char *data = NULL;
  size_t len = 0;

  ASSERT_EQ(test_write_file(p, "0123456789", 0600), 0);
  ASSERT_ERR(sshmux_file_read(p, 9, &data, &len), SSHMUX_ETOOLONG);
  ASSERT(data == NULL);
  ASSERT_OK(sshmux_file_read(p, 10, &data, &len));
  ASSERT_EQ(len, 10);
  ASSERT_STR_EQ(data, "0123456789");
  sshmux_free(data);
  ASSERT_ERR(sshmux_file_read(p, 0, &data, &len), SSHMUX_ETOOLONG);
  /* Not a regular file: a directory, and a FIFO (which must not block). */
  ASSERT_ERR(sshmux_file_read(test_path(""), 100, &data, &len), UV_EISDIR);
  ASSERT_EQ(mkfifo(test_path("fifo"), 0600), 0);
  ASSERT_ERR(sshmux_file_read(test_path("fifo"), 100, &data, &len),
             SSHMUX_EINVAL);
  return 0;
}

TEST_IMPL(safefile_dir_ensure) {
  struct stat st;

  ASSERT_OK(sshmux_dir_ensure(test_path("x/y//z/"), 0700));
  ASSERT_EQ(stat(test_path("x/y/z"), &st), 0);
  ASSERT(S_ISDIR(st.st_mode));
  ASSERT_EQ(st.st_mode & 0777, 0700);
  ASSERT_OK(sshmux_dir_ensure(test_path("x/y/z"), 0700)); /* idempotent */
  ASSERT_EQ(test_write_file(test_path("x/file"), "f", 0600), 0);
  ASSERT_ERR(sshmux_dir_ensure(test_path("x/file/sub"), 0700), UV_ENOTDIR);
  ASSERT_EQ(chmod(test_path("x/y/z"), 0777), 0);
  ASSERT_ERR(sshmux_dir_ensure(test_path("x/y/z"), 0700), SSHMUX_EPERM);
  ASSERT_EQ(symlink(test_path("x/y"), test_path("x/l")), 0);
  ASSERT_ERR(sshmux_dir_ensure(test_path("x/l/new"), 0700), SSHMUX_ESYMLINK);
  ASSERT_EQ(access(test_path("x/y/new"), F_OK), -1);
  return 0;
}
