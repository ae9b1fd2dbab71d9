@testable import FootfallModel
import Testing

@Suite struct RetentionPlanTests {
    @Test(arguments: [30, 31, 90, 180, 359, 360])
    func plansFrom30To360Days_areAccepted(days: Int) {
        #expect(RetentionPlan(days: days)?.days == days)
    }

    @Test(arguments: [Int.min, -30, 0, 1, 29, 361, 365, 720, Int.max])
    func plansOutside30To360Days_areRejected(days: Int) {
        #expect(RetentionPlan(days: days) == nil)
    }

    @Test func defaultPlan_isWithinBounds() {
        #expect((RetentionPlan.daysMin...RetentionPlan.daysMax).contains(RetentionPlan.default.days))
        #expect(RetentionPlan.default.days == 180)
    }

    @Test(arguments: [30, 180, 360])
    func cutoff_isAUTCMidnight_andConstantThroughTheDay(days: Int) {
        let plan = RetentionPlan(days: days)!
        let atMidnight = plan.cutoffMs(nowMs: may1st2024Ms)
        #expect(atMidnight % TimeUnits.dayMs == 0)
        #expect(plan.cutoffMs(nowMs: may1st2024Ms + 12 * TimeUnits.hourMs) == atMidnight)
        #expect(plan.cutoffMs(nowMs: may1st2024Ms + .days(1) - 1) == atMidnight)
        #expect(plan.cutoffMs(nowMs: may1st2024Ms + .days(1)) == atMidnight + TimeUnits.dayMs)
        #expect(plan.cutoffMs(nowMs: may1st2024Ms) == plan.firstKeptDay(nowMs: may1st2024Ms).startMs)
    }

    @Test(arguments: [30, 180, 360])
    func longerPlans_keepMore(days: Int) {
        let plan = RetentionPlan(days: days)!
        if let shorter = RetentionPlan(days: days - 1) {
            #expect(shorter.firstKeptDay(nowMs: may1st2024Ms) == plan.firstKeptDay(nowMs: may1st2024Ms).advanced(by: 1))
        }
    }

    @Test(arguments: [30, 180, 360])
    func isExpired_isExactlyBeforeTheCutoff(days: Int) {
        let plan = RetentionPlan(days: days)!
        let now = may1st2024Ms + 9 * TimeUnits.hourMs
        let cutoff = plan.cutoffMs(nowMs: now)
        #expect(plan.isExpired(eventMs: cutoff - 1, nowMs: now))
        #expect(!plan.isExpired(eventMs: cutoff, nowMs: now))
        #expect(plan.isExpired(eventMs: 0, nowMs: now))
    }

    @Test(arguments: [30, 180, 360])
    func recentEvents_areKept(days: Int) {
        let plan = RetentionPlan(days: days)!
        let now = may1st2024Ms + 9 * TimeUnits.hourMs
        // Anything younger than (days - 1) whole days is kept whichever way the day boundary falls.
        for age: Int64 in [0, 1, TimeUnits.hourMs, .days(1), .days(Int64(days - 1)) - 1] {
            #expect(!plan.isExpired(eventMs: now - age, nowMs: now), "age \(age) ms")
        }
        #expect(!plan.isExpired(eventMs: now + TimeUnits.hourMs, nowMs: now), "a clock-skewed future event is not expired")
    }

    @Test(arguments: [30, 180, 360])
    func eventsOlderThanThePlanPlusADay_areAlwaysExpired(days: Int) {
        let plan = RetentionPlan(days: days)!
        for now in [may1st2024Ms, may1st2024Ms + 1, may1st2024Ms + .days(1) - 1] {
            #expect(plan.isExpired(eventMs: now - .days(Int64(days + 1)) - 1, nowMs: now))
        }
    }

    @Test(arguments: [30, 180, 360])
    func noEventOutlivesItsPlan(days: Int) {
        let plan = RetentionPlan(days: days)!
        // Collected at 00:00:00.000 on day d; the plan length later plus 1 ms, it must be gone.
        for eventMs in [may1st2024Ms, may1st2024Ms + 1, may1st2024Ms + .days(1) - 1] {
            let now = eventMs + .days(Int64(days)) + 1
            #expect(plan.isExpired(eventMs: eventMs, nowMs: now), "event \(eventMs), now \(now)")
        }
    }
}

@Suite struct AccountExpiryTests {
    let lastActive = may1st2024Ms + 13 * TimeUnits.hourMs

    @Test func accountIdleFor720Days_isNotYetExpired_andOneMsMoreIs() {
        #expect(!AccountExpiry.isExpired(lastActiveMs: lastActive, nowMs: lastActive + .days(720)))
        #expect(AccountExpiry.isExpired(lastActiveMs: lastActive, nowMs: lastActive + .days(720) + 1))
    }

    @Test func recentlyActiveAccounts_areKept() {
        for idle: Int64 in [0, 1, .days(1), .days(360), .days(719)] {
            #expect(!AccountExpiry.isExpired(lastActiveMs: lastActive, nowMs: lastActive + idle))
        }
        #expect(AccountExpiry.isExpired(lastActiveMs: lastActive, nowMs: lastActive + .days(1_000)))
    }

    @Test func activityInTheFuture_doesNotExpire() {
        #expect(!AccountExpiry.isExpired(lastActiveMs: lastActive + .days(5), nowMs: lastActive))
    }
}
