from bot_fleet.supervisor import run

run()
