// Reads iCalendar files with Mozilla's ical.js (Thunderbird's parser) and prints, as JSON, what it
// sees in each: the calendar's top-level components and every event's UID, start and end: date-times
// in UTC by the file's own VTIMEZONEs, all-day events as their dates. A file it cannot parse fails.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const seen = process.argv.slice(2).map((path) => {
  const calendar = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
  for (const zone of calendar.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(zone);
  }
  const inUtc = (time) => (time.isDate ? time.toString() : time.convertToZone(ICAL.Timezone.utcTimezone).toString());
  return {
    name: calendar.name,
    components: calendar.getAllSubcomponents().map((component) => component.name),
    events: calendar.getAllSubcomponents("vevent").map((component) => {
      const event = new ICAL.Event(component);
      return { uid: event.uid, summary: event.summary, start: inUtc(event.startDate), end: inUtc(event.endDate) };
    }),
  };
});
process.stdout.write(JSON.stringify(seen));
