#include <string.h>
#include "internal.h"

void dk_options_init(dk_options_t *opts) {
  memset(opts, 0, sizeof(*opts));
  opts->umask = -1;
}
