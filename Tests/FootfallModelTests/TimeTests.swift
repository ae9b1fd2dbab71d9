@testable import FootfallModel
import Testing

@Suite struct DayTests {
    @Test func dayBoundary_isUTCMidnight() {
        #expect(Day(containing: 0).index == 0)
        #expect(Day(containing: TimeUnits.dayMs - 1).index == 0)
        #expect(Day(containing: TimeUnits.dayMs).index == 1)
        #expect(Day(containing: may1st2024Ms - 1).index == may1st2024.index - 1)
        #expect(Day(containing: may1st2024Ms).index == 19_844)
        #expect(Day(containing: may1st2024Ms + .days(1) - 1) == may1st2024)
    }

    @Test func startMs_isTheFirstMillisecondOfTheDay() {
        #expect(may1st2024.startMs == may1st2024Ms)
        for ms: Int64 in [0, 1, may1st2024Ms + 12_345_678, may1st2024Ms + .days(1) - 1] {
            let day = Day(containing: ms)
            #expect(day.startMs <= ms && ms < day.startMs + TimeUnits.dayMs)
        }
    }

    @Test func timesBeforeTheEpoch_clampToDayZero() {
        #expect(Day(containing: -1).index == 0)
        #expect(Day(containing: .min).index == 0)
    }

    @Test func striding_addsAndMeasuresDays() {
        #expect(may1st2024.advanced(by: 30).index == may1st2024.index + 30)
        #expect(may1st2024.advanced(by: -1).startMs == may1st2024Ms - TimeUnits.dayMs)
        #expect(may1st2024.distance(to: may1st2024.advanced(by: 7)) == 7)
        #expect(may1st2024.advanced(by: 7).distance(to: may1st2024) == -7)
        #expect(Day(index: 0).advanced(by: -5).index == 0)
        #expect(Array(may1st2024...may1st2024.advanced(by: 2)).map(\.index) == [19_844, 19_845, 19_846])
        #expect(may1st2024 < may1st2024.advanced(by: 1))
    }
}

@Suite struct QuarterHourTests {
    @Test func quarterHourBoundaries_areEvery15Minutes() {
        #expect(QuarterHour(containing: 0).index == 0)
        #expect(QuarterHour(containing: .minutes(15) - 1).index == 0)
        #expect(QuarterHour(containing: .minutes(15)).index == 1)
        #expect(QuarterHour(containing: may1st2024Ms).index == may1st2024.index * 96)
        #expect(QuarterHour(containing: may1st2024Ms + .minutes(44) + .seconds(59)).index == may1st2024.index * 96 + 2)
        #expect(QuarterHour(containing: may1st2024Ms + .minutes(45)).index == may1st2024.index * 96 + 3)
    }

    @Test func aDayHas96QuarterHours_andTheyNest() {
        let first = QuarterHour(containing: may1st2024Ms)
        let last = QuarterHour(containing: may1st2024Ms + .days(1) - 1)
        #expect(first.distance(to: last) == 95)
        #expect(first.startMs == may1st2024Ms)
        #expect(Day(containing: last.startMs) == may1st2024)
        #expect(Day(containing: last.advanced(by: 1).startMs) == may1st2024.advanced(by: 1))
    }

    @Test func timesBeforeTheEpoch_clampToBucketZero() {
        #expect(QuarterHour(containing: -1).index == 0)
    }

    @Test func halfHourAndQuarterHourTimeZones_startLocalDaysOnABucketBoundary() {
        // +5:30 (India), +5:45 (Nepal), -3:30 (Newfoundland): local midnight is a whole bucket.
        for offset in [Int64.minutes(330), .minutes(345), -.minutes(210), .minutes(60)] {
            let localMidnightUTC = may1st2024Ms - offset
            #expect(QuarterHour(containing: localMidnightUTC).startMs == localMidnightUTC)
        }
    }
}

@Suite struct TimeRangeTests {
    @Test func contains_isHalfOpen() {
        let range = TimeRange(startMs: 100, endMs: 200)
        #expect(!range.contains(99))
        #expect(range.contains(100))
        #expect(range.contains(199))
        #expect(!range.contains(200))
        #expect(range.durationMs == 100)
    }

    @Test func alignedRange_coversExactlyItsQuarterHours() {
        let hour = TimeRange(startMs: may1st2024Ms, endMs: may1st2024Ms + TimeUnits.hourMs)
        let buckets = hour.quarterHours
        #expect(buckets.count == 4)
        #expect(buckets.lowerBound.startMs == may1st2024Ms)
        #expect(buckets.upperBound.startMs == may1st2024Ms + TimeUnits.hourMs)
    }

    @Test func unalignedRange_coversEveryBucketItTouches() {
        let range = TimeRange(startMs: may1st2024Ms + .minutes(14), endMs: may1st2024Ms + .minutes(16))
        #expect(range.quarterHours.map(\.index) == [may1st2024.index * 96, may1st2024.index * 96 + 1])
        let oneMsOver = TimeRange(startMs: may1st2024Ms, endMs: may1st2024Ms + .minutes(15) + 1)
        #expect(oneMsOver.quarterHours.count == 2)
    }

    @Test func emptyAlignedRange_coversNoBuckets() {
        #expect(TimeRange(startMs: may1st2024Ms, endMs: may1st2024Ms).quarterHours.isEmpty)
    }

    @Test func localDayInHalfHourZone_isNinetySixBuckets() {
        let offset = Int64.minutes(330)
        let localDay = TimeRange(startMs: may1st2024Ms - offset, endMs: may1st2024Ms - offset + .days(1))
        #expect(localDay.quarterHours.count == 96)
        #expect(localDay.days == may1st2024.advanced(by: -1)...may1st2024)
    }

    @Test func dstDaysOf23And25Hours_areWholeBuckets() {
        #expect(TimeRange(startMs: may1st2024Ms, endMs: may1st2024Ms + 23 * TimeUnits.hourMs).quarterHours.count == 92)
        #expect(TimeRange(startMs: may1st2024Ms, endMs: may1st2024Ms + 25 * TimeUnits.hourMs).quarterHours.count == 100)
    }

    @Test func days_endIsExclusive() {
        let oneDay = TimeRange(startMs: may1st2024Ms, endMs: may1st2024Ms + .days(1))
        #expect(oneDay.days == may1st2024...may1st2024)
        let oneMsInto = TimeRange(startMs: may1st2024Ms, endMs: may1st2024Ms + .days(1) + 1)
        #expect(oneMsInto.days == may1st2024...may1st2024.advanced(by: 1))
        let lastMsOnly = TimeRange(startMs: may1st2024Ms - 1, endMs: may1st2024Ms)
        #expect(lastMsOnly.days == may1st2024.advanced(by: -1)...may1st2024.advanced(by: -1))
        let week = TimeRange(startMs: may1st2024Ms, endMs: may1st2024Ms + .days(7))
        #expect(week.days.count == 7)
    }

    @Test func emptyRange_hasItsStartDay() {
        let empty = TimeRange(startMs: may1st2024Ms, endMs: may1st2024Ms)
        #expect(empty.days == may1st2024...may1st2024)
    }
}
