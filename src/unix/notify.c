/* systemd's readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram to the AF_UNIX socket named by $NOTIFY_SOCKET, a path or, with a
 * leading '@', an abstract name. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix.h"

/* 0 when sent or when no supervisor asked for it ($NOTIFY_SOCKET unset). */
int dk__notify(const char *state) {
  const char *name = getenv("NOTIFY_SOCKET");
  struct sockaddr_un addr;
  socklen_t addr_len;
  size_t name_len;
  ssize_t n;
  int fd, err = 0;

  if (name == NULL || name[0] == '\0')
    return 0;
  name_len = strlen(name);
  if ((name[0] != '/' && name[0] != '@') || name_len >= sizeof(addr.sun_path))
    return UV_EINVAL;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, name, name_len);
  if (name[0] == '@')
    addr.sun_path[0] = '\0';
  addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len +
                         (name[0] == '/' ? 1 : 0));

  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return DK__ERR(errno);
  do
    n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    err = DK__ERR(errno);
  close(fd);
  return err;
}
