/* Test-only control of the library's fault-injection seam: asock_fault_arm and the numbered
   points (ASOCK_FAULT_POINT_...). Declared by the library itself (src/common/detail/
   fault_control.h, from the one list of points in fault_points.h); available when linking
   asock_fault, the build of the library with ASOCK_FAULT_INJECTION, which puts src/common on
   the include path of what links it. */
#ifndef ASOCK_TEST_FAULT_INJECTION_H
#define ASOCK_TEST_FAULT_INJECTION_H

#include "detail/fault_control.h"

#endif
