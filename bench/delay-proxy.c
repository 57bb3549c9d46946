/* delay-proxy.c -- the bench's slow link: a TCP relay on 127.0.0.1 that holds
 * every chunk it reads for a fixed time before passing it on, each way, so
 * that a loopback hop behaves like a WAN path of RTT 2 x DELAY (this kernel
 * has no netem).
 *
 *   delay-proxy --to PORT [--delay-ms 25] [--listen PORT]
 *
 * Prints "listening on PORT" once ready.  It is a TCP endpoint, not a wire:
 * both its sockets have TCP_NODELAY and re-arm TCP_QUICKACK after each read,
 * so it adds no Nagle or delayed-ACK waits of its own.  Up to 64 MiB per
 * direction may be in flight (more than delay x loopback bandwidth); past
 * that it stops reading, so it never bounds a window that fits the path. */
#include <netinet/in.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <uv.h>

#define HIGH_WATER (64u << 20)
#define CHUNK 65536

typedef struct chunk {
  struct chunk *next;
  uint64_t due_ns;
  size_t len; /* 0: the sender's EOF */
  uv_write_t req;
  struct dir *d;
  char data[];
} chunk_t;

typedef struct conn conn_t;

typedef struct dir {
  conn_t *conn;
  uv_tcp_t *from, *to;
  chunk_t *head, *tail;
  size_t held; /* queued plus being written */
  int reading, eof_in, shut_out;
  uv_timer_t timer;
  uv_shutdown_t shut;
} dir_t;

struct conn {
  uv_tcp_t client, upstream;
  uv_connect_t creq;
  dir_t up, down; /* client -> upstream, upstream -> client */
  int closing, handles;
};

static uv_loop_t *loop;
static uint64_t delay_ns;
static struct sockaddr_in target;

static void quickack(uv_tcp_t *t) {
#ifdef TCP_QUICKACK
  uv_os_fd_t fd;
  int one = 1;

  if (uv_fileno((uv_handle_t *)t, &fd) == 0)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#else
  (void)t;
#endif
}

static void on_closed(uv_handle_t *h) {
  conn_t *c = h->data;

  if (--c->handles == 0) {
    for (dir_t *d = &c->up; d != NULL; d = d == &c->up ? &c->down : NULL)
      while (d->head != NULL) {
        chunk_t *k = d->head;
        d->head = k->next;
        free(k);
      }
    free(c);
  }
}

static void conn_close(conn_t *c) {
  if (c->closing)
    return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->client, on_closed);
  uv_close((uv_handle_t *)&c->upstream, on_closed);
  uv_close((uv_handle_t *)&c->up.timer, on_closed);
  uv_close((uv_handle_t *)&c->down.timer, on_closed);
}

static void maybe_done(conn_t *c) {
  if (c->up.shut_out && c->down.shut_out && c->up.held == 0 &&
      c->down.held == 0)
    conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  chunk_t *k = malloc(sizeof(*k) + CHUNK);

  (void)h;
  (void)hint;
  buf->base = k != NULL ? k->data : NULL;
  buf->len = k != NULL ? CHUNK : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void arm(dir_t *d);

static void on_shutdown(uv_shutdown_t *r, int status) {
  dir_t *d = r->data;

  (void)status;
  d->shut_out = 1;
  maybe_done(d->conn);
}

static void on_written(uv_write_t *r, int status) {
  chunk_t *k = r->data;
  dir_t *d = k->d;

  d->held -= k->len;
  free(k);
  if (status < 0) {
    conn_close(d->conn);
    return;
  }
  if (!d->reading && !d->eof_in && d->held < HIGH_WATER / 2 &&
      !d->conn->closing) {
    d->reading = 1;
    uv_read_start((uv_stream_t *)d->from, on_alloc, on_read);
  }
  maybe_done(d->conn);
}

static void on_due(uv_timer_t *t) {
  dir_t *d = t->data;
  uint64_t now = uv_hrtime();

  while (d->head != NULL && d->head->due_ns <= now + 200000) {
    chunk_t *k = d->head;
    uv_buf_t b = uv_buf_init(k->data, (unsigned)k->len);

    d->head = k->next;
    if (d->head == NULL)
      d->tail = NULL;
    if (k->len == 0) { /* EOF: pass the half-close on */
      free(k);
      d->shut.data = d;
      if (uv_shutdown(&d->shut, (uv_stream_t *)d->to, on_shutdown) != 0) {
        d->shut_out = 1;
        maybe_done(d->conn);
      }
      continue;
    }
    k->req.data = k;
    if (uv_write(&k->req, (uv_stream_t *)d->to, &b, 1, on_written) != 0) {
      d->held -= k->len;
      free(k);
      conn_close(d->conn);
      return;
    }
  }
  arm(d);
}

static void arm(dir_t *d) {
  uint64_t now = uv_hrtime(), ms;

  if (d->head == NULL || d->conn->closing)
    return;
  ms = d->head->due_ns > now ? (d->head->due_ns - now + 999999) / 1000000 : 0;
  uv_timer_start(&d->timer, on_due, ms, 0);
}

static void enqueue(dir_t *d, chunk_t *k, size_t len) {
  k->next = NULL;
  k->len = len;
  k->d = d;
  k->due_ns = uv_hrtime() + delay_ns;
  d->held += len;
  if (d->tail != NULL)
    d->tail->next = k;
  else
    d->head = k;
  d->tail = k;
  if (!uv_is_active((uv_handle_t *)&d->timer))
    arm(d);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  dir_t *d = s == (uv_stream_t *)&c->client ? &c->up : &c->down;
  chunk_t *k = buf->base != NULL
                   ? (chunk_t *)(buf->base - offsetof(chunk_t, data))
                   : NULL;

  if (n == 0) {
    free(k);
    return;
  }
  if (n < 0) {
    if (n != UV_EOF) {
      free(k);
      conn_close(c);
      return;
    }
    uv_read_stop(s);
    d->reading = 0;
    d->eof_in = 1;
    if (k == NULL && (k = malloc(sizeof(*k))) == NULL) {
      conn_close(c);
      return;
    }
    enqueue(d, k, 0);
    return;
  }
  quickack(d->from);
  enqueue(d, k, (size_t)n);
  if (d->held >= HIGH_WATER) {
    uv_read_stop(s);
    d->reading = 0;
  }
}

static void on_upstream(uv_connect_t *r, int status) {
  conn_t *c = r->data;

  if (status < 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->upstream, 1);
  c->up.reading = c->down.reading = 1;
  uv_read_start((uv_stream_t *)&c->client, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&c->upstream, on_alloc, on_read);
}

static void on_conn(uv_stream_t *server, int status) {
  conn_t *c;

  if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
    return;
  uv_tcp_init(loop, &c->client);
  uv_tcp_init(loop, &c->upstream);
  uv_timer_init(loop, &c->up.timer);
  uv_timer_init(loop, &c->down.timer);
  c->handles = 4;
  c->client.data = c->upstream.data = c;
  c->up.conn = c->down.conn = c;
  c->up.from = c->down.to = &c->client;
  c->up.to = c->down.from = &c->upstream;
  c->up.timer.data = &c->up;
  c->down.timer.data = &c->down;
  if (uv_accept(server, (uv_stream_t *)&c->client) != 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->client, 1);
  c->creq.data = c;
  if (uv_tcp_connect(&c->creq, &c->upstream, (struct sockaddr *)&target,
                     on_upstream) != 0)
    conn_close(c);
}

int main(int argc, char **argv) {
  int to = 0, listen_port = 0, delay_ms = 25, namelen;
  struct sockaddr_in addr;
  uv_tcp_t server;

  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--to") == 0)
      to = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--delay-ms") == 0)
      delay_ms = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--listen") == 0)
      listen_port = atoi(argv[i + 1]);
  }
  if (to <= 0 || to > 65535 || delay_ms < 0) {
    fprintf(stderr, "usage: delay-proxy --to PORT [--delay-ms 25] "
                    "[--listen PORT]\n");
    return 2;
  }
  delay_ns = (uint64_t)delay_ms * 1000000u;
  loop = uv_default_loop();
  uv_ip4_addr("127.0.0.1", to, &target);
  uv_ip4_addr("127.0.0.1", listen_port, &addr);
  uv_tcp_init(loop, &server);
  if (uv_tcp_bind(&server, (struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&server, 128, on_conn) != 0) {
    fprintf(stderr, "delay-proxy: cannot listen on 127.0.0.1:%d\n",
            listen_port);
    return 1;
  }
  namelen = sizeof(addr);
  uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &namelen);
  printf("listening on %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
