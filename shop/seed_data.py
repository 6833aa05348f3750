"""Demo chain data: 邻里康, a Shanghai pharmacy and convenience chain (GCJ-02 coordinates, realistic hours).

The products are in shop.seed_catalogue."""

from __future__ import annotations

from shop.seed_catalogue import CATALOGUE, SUBCATEGORY_CODES, TOP_ORDER

__all__ = ["CATALOGUE", "SUBCATEGORY_CODES", "TOP_ORDER"]

# Hours presets: weekday -> list of (opens, closes); closes at or before opens runs past midnight.
ALL_DAY = {wd: [("00:00", "24:00")] for wd in range(7)}
PHARMACY = {wd: [("08:00", "22:00")] for wd in range(7)}
PHARMACY_SHORT = {**{wd: [("08:30", "21:30")] for wd in range(5)}, 5: [("09:00", "21:00")], 6: [("09:00", "21:00")]}
CONVENIENCE_LATE = {wd: [("07:00", "02:00")] for wd in range(7)}
NIGHTLIFE = {
    **{wd: [("10:00", "24:00")] for wd in range(4)},
    4: [("10:00", "02:00")],
    5: [("10:00", "02:00")],
    6: [("10:00", "24:00")],
}
SUBURB = {wd: [("08:00", "21:00")] for wd in range(7)}
SPLIT = {wd: [("07:30", "11:30"), ("13:00", "20:30")] for wd in range(7)}

# code, name, address, lat, lng, hours, radius_m, partner, capacity, kind ("pharmacy"/"convenience")
STORES = [
    ("HQ", "邻里康总店（南京东路）", "黄浦区南京东路300号", 31.2380, 121.4800, ALL_DAY, 8000, True, 10, "pharmacy"),
    ("SH01", "邻里康大药房（人民广场）", "黄浦区西藏中路268号", 31.2336, 121.4750, ALL_DAY, 3000, True, 5, "pharmacy"),
    ("SH02", "邻里康大药房（徐家汇）", "徐汇区漕溪北路88号", 31.1950, 121.4370, ALL_DAY, 3000, True, 5, "pharmacy"),
    ("SH03", "邻里康大药房（五角场）", "杨浦区淞沪路8号", 31.3010, 121.5140, ALL_DAY, 3500, True, 5, "pharmacy"),
    (
        "SH04",
        "邻里康大药房（陆家嘴）",
        "浦东新区陆家嘴环路1000号",
        31.2397,
        121.4998,
        ALL_DAY,
        3000,
        True,
        4,
        "pharmacy",
    ),
    (
        "SH05",
        "邻里康便利（虹桥火车站）",
        "闵行区申贵路1500号",
        31.1945,
        121.3220,
        ALL_DAY,
        2000,
        False,
        0,
        "convenience",
    ),
    (
        "SH06",
        "邻里康便利（静安寺）",
        "静安区南京西路1699号",
        31.2240,
        121.4460,
        CONVENIENCE_LATE,
        2000,
        True,
        3,
        "convenience",
    ),
    ("SH07", "邻里康便利（新天地）", "黄浦区马当路245号", 31.2190, 121.4750, NIGHTLIFE, 2000, True, 2, "convenience"),
    (
        "SH08",
        "邻里康大药房（南京西路）",
        "静安区南京西路1038号",
        31.2290,
        121.4560,
        PHARMACY,
        3000,
        True,
        3,
        "pharmacy",
    ),
    ("SH09", "邻里康大药房（中山公园）", "长宁区长宁路1018号", 31.2210, 121.4170, PHARMACY, 3000, True, 3, "pharmacy"),
    (
        "SH10",
        "邻里康大药房（打浦桥）",
        "黄浦区徐家汇路618号",
        31.2080,
        121.4690,
        PHARMACY_SHORT,
        2500,
        True,
        2,
        "pharmacy",
    ),
    (
        "SH11",
        "邻里康大药房（世纪大道）",
        "浦东新区世纪大道1192号",
        31.2290,
        121.5260,
        PHARMACY,
        3000,
        True,
        3,
        "pharmacy",
    ),
    ("SH12", "邻里康大药房（张江）", "浦东新区祖冲之路1077号", 31.2050, 121.5950, PHARMACY, 4000, True, 3, "pharmacy"),
    (
        "SH13",
        "邻里康大药房（金桥）",
        "浦东新区金桥路1398号",
        31.2610,
        121.5920,
        PHARMACY_SHORT,
        4000,
        True,
        2,
        "pharmacy",
    ),
    ("SH14", "邻里康大药房（川沙）", "浦东新区川沙路5398号", 31.1920, 121.7040, SUBURB, 5000, True, 2, "pharmacy"),
    ("SH15", "邻里康便利（曹杨）", "普陀区曹杨路1040号", 31.2410, 121.4080, SPLIT, 2000, False, 0, "convenience"),
    ("SH16", "邻里康大药房（长寿路）", "普陀区长寿路588号", 31.2430, 121.4390, PHARMACY, 3000, True, 3, "pharmacy"),
    (
        "SH17",
        "邻里康大药房（四川北路）",
        "虹口区四川北路1318号",
        31.2600,
        121.4850,
        PHARMACY,
        3000,
        True,
        3,
        "pharmacy",
    ),
    (
        "SH18",
        "邻里康便利（大宁）",
        "静安区共和新路1878号",
        31.2790,
        121.4550,
        CONVENIENCE_LATE,
        2000,
        True,
        2,
        "convenience",
    ),
    ("SH19", "邻里康大药房（共康）", "宝山区共康路333号", 31.3180, 121.4480, PHARMACY_SHORT, 3500, True, 2, "pharmacy"),
    ("SH20", "邻里康大药房（宝山）", "宝山区友谊路1号", 31.3950, 121.4890, SUBURB, 5000, True, 2, "pharmacy"),
    ("SH21", "邻里康大药房（松江大学城）", "松江区文汇路928号", 31.0480, 121.2120, SUBURB, 5000, True, 2, "pharmacy"),
    ("SH22", "邻里康大药房（嘉定新城）", "嘉定区裕民南路88号", 31.3350, 121.2550, SUBURB, 5000, True, 2, "pharmacy"),
    ("SH23", "邻里康大药房（闵行）", "闵行区江川路1800号", 31.0150, 121.4160, SUBURB, 5000, True, 2, "pharmacy"),
    ("SH24", "邻里康大药房（七宝）", "闵行区七莘路3655号", 31.1580, 121.3540, PHARMACY, 3500, True, 3, "pharmacy"),
    ("SH25", "邻里康大药房（莘庄）", "闵行区莘松路88号", 31.1110, 121.3850, PHARMACY, 3500, True, 3, "pharmacy"),
    ("SH26", "邻里康便利（浦江）", "闵行区浦星公路1969号", 31.0830, 121.5150, SPLIT, 2500, False, 0, "convenience"),
    ("SH27", "邻里康大药房（周浦）", "浦东新区年家浜路518号", 31.1140, 121.5730, SUBURB, 4500, True, 2, "pharmacy"),
    ("SH28", "邻里康大药房（世博）", "浦东新区雪野路928号", 31.1850, 121.4920, PHARMACY, 3000, True, 3, "pharmacy"),
    (
        "SH29",
        "邻里康大药房（龙华）",
        "徐汇区龙华中路596号",
        31.1730,
        121.4540,
        PHARMACY_SHORT,
        3000,
        True,
        2,
        "pharmacy",
    ),
    (
        "SH30",
        "邻里康便利（上海南站）",
        "徐汇区沪闵路9001号",
        31.1545,
        121.4290,
        CONVENIENCE_LATE,
        2000,
        True,
        2,
        "convenience",
    ),
]

# 除夕 (Spring Festival eve) by year: suburban stores close, the others close early.
SPRING_FESTIVAL_EVE = {
    2025: "2025-01-28",
    2026: "2026-02-16",
    2027: "2027-02-05",
    2028: "2028-01-25",
    2029: "2029-02-12",
}

ADMIN = ("admin", "demo-admin-2024", "HQ 管理员")
FINANCE = ("finance", "demo-finance-2024", "财务 王会计")
STAFF_PASSWORD = "demo-staff-2024"
STAFF_NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周丽", "吴刚", "徐婷", "孙鹏"]
