/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the files of the media module (the ingest core and its CRC-32C). */
#ifndef CAMSTREAM_MEDIA_INT_H
#define CAMSTREAM_MEDIA_INT_H

#include "media.h"

#endif /* CAMSTREAM_MEDIA_INT_H */
