#pragma once
#include <GeoIP.h>
#include <GeoIPCity.h>
