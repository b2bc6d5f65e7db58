/* SPDX-License-Identifier: Apache-2.0 */
/* camstream put: stream a media file to a stream with the producer SDK (cli/put.c). */
#ifndef CAMSTREAM_CLI_PUT_H
#define CAMSTREAM_CLI_PUT_H

#include <signal.h>

/**
 * @brief `camstream put FILE --stream NAME [options]`. `endpoint` and `region` are the defaults
 * the global options gave (put's own --endpoint/--region override them); `stop` becomes non-zero
 * on SIGINT/SIGTERM. Prints its own messages.
 * @return the process exit status: 0 only when every frame of the file was PERSISTED
 */
int cli_put(const char *endpoint, const char *region, int argc, char **argv,
            volatile sig_atomic_t *stop);

#endif /* CAMSTREAM_CLI_PUT_H */
