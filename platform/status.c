/* SPDX-License-Identifier: Apache-2.0 */
/* Names of cs_status values and the library version string. */
#include "camstream/platform.h"

const char *cs_status_str(cs_status status)
{
    switch (status) {
    case CS_OK:
        return "CS_OK";
    case CS_AGAIN:
        return "CS_AGAIN";
    case CS_E_INVAL:
        return "CS_E_INVAL";
    case CS_E_NOMEM:
        return "CS_E_NOMEM";
    case CS_E_NOSPACE:
        return "CS_E_NOSPACE";
    case CS_E_IO:
        return "CS_E_IO";
    case CS_E_TIMEOUT:
        return "CS_E_TIMEOUT";
    case CS_E_NOTFOUND:
        return "CS_E_NOTFOUND";
    case CS_E_EXISTS:
        return "CS_E_EXISTS";
    case CS_E_RANGE:
        return "CS_E_RANGE";
    case CS_E_MALFORMED:
        return "CS_E_MALFORMED";
    case CS_E_UNSUPPORTED:
        return "CS_E_UNSUPPORTED";
    case CS_E_LIMIT:
        return "CS_E_LIMIT";
    case CS_E_STATE:
        return "CS_E_STATE";
    case CS_E_NET:
        return "CS_E_NET";
    case CS_E_AUTH:
        return "CS_E_AUTH";
    case CS_E_PERM:
        return "CS_E_PERM";
    case CS_E_INTERNAL:
        return "CS_E_INTERNAL";
    case CS_E_CANCELLED:
        return "CS_E_CANCELLED";
    case CS_E_OVERFLOW:
        return "CS_E_OVERFLOW";
    }
    return "CS_E_UNKNOWN";
}

const char *cs_version(void)
{
    return CS_VERSION_STRING;
}
